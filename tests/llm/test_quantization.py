"""4-bit loading (and its fallback), the AVX512-BF16 fix, and merging a QLoRA adapter."""

from __future__ import annotations

import pytest
import torch

from hwutils.llm import quantization
from hwutils.core.errors import ConfigError

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A random tiny Llama saved like a Hub checkpoint (fast, independent of the fixture's training)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    folder = tmp_path_factory.mktemp("tiny_llama_random")
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


def load_4bit(source):
    from transformers import AutoModelForCausalLM

    loaded = quantization.load_quantized(AutoModelForCausalLM, source, "cpu", torch.float32)
    assert loaded.quantized, loaded.note
    return loaded.model


def with_lora(model, seed=0):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    torch.manual_seed(seed)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
    for name, parameter in model.named_parameters():  # B = 0 at initialisation: give the update a size
        if "lora_B" in name:
            parameter.data.normal_(0, 0.05)
    return model


def test_resolve_dtype():
    assert quantization.resolve_dtype("auto", "cpu") == torch.float32
    assert quantization.resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ConfigError, match="unknown dtype"):
        quantization.resolve_dtype("int3", "cpu")


def test_four_bit_loads_on_this_cpu_and_falls_back_with_a_note(tiny_llama, monkeypatch):
    from transformers import AutoModelForCausalLM

    assert quantization.four_bit_support("cpu").available  # bitsandbytes >= 0.46 runs NF4 on CPUs
    model = load_4bit(tiny_llama)
    assert len(quantization.linear4bit_layers(model)) == 2 * 7  # every projection of both layers
    assert all(not layer.support_avx512bf16_for_cpu for layer in quantization.linear4bit_layers(model))

    monkeypatch.setattr(quantization, "four_bit_support",
                        lambda device: quantization.FourBitSupport(False, "simulated: no bitsandbytes backend"))
    fallback = quantization.load_quantized(AutoModelForCausalLM, tiny_llama, "cpu", torch.float32)
    assert not fallback.quantized and not quantization.linear4bit_layers(fallback.model)
    assert "4-bit NF4 is unavailable: simulated" in fallback.note and "UNQUANTISED" in fallback.note


def lora_tensors_without_gradient(model) -> int:
    x = torch.randint(0, 64, (2, 10))
    model.eval()
    with torch.no_grad():
        model(input_ids=x)  # a no-grad forward first, as an evaluation before training does
    model.train()
    model(input_ids=x, labels=x).loss.backward()
    return sum(p.grad is None or not p.grad.abs().sum() for p in model.parameters() if p.requires_grad)


def test_keeping_the_cpu_4bit_layout_keeps_every_lora_gradient(tiny_llama):
    model = with_lora(load_4bit(tiny_llama))  # load_quantized applies the fix
    assert lora_tensors_without_gradient(model) == 0

    import bitsandbytes as bnb

    broken = with_lora(load_4bit(tiny_llama))
    for layer in quantization.linear4bit_layers(broken):
        layer.support_avx512bf16_for_cpu = bnb.functional.has_avx512bf16()  # bitsandbytes' default
    if bnb.functional.has_avx512bf16():  # the pitfall only exists on such CPUs
        assert lora_tensors_without_gradient(broken) > 0


def test_merging_into_a_dequantized_copy_is_exact_and_into_4bit_drifts(tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter_model = with_lora(load_4bit(tiny_llama)).eval()
    x = torch.randint(0, 64, (3, 12))
    with torch.no_grad():
        reference = adapter_model(input_ids=x).logits
    adapter_model.save_pretrained(tmp_path / "adapter")
    intended = quantization.intended_merge(adapter_model)

    naive = adapter_model.merge_and_unload()
    with torch.no_grad():
        naive_diff = (naive(input_ids=x).logits - reference).abs().max().item()
    naive_error = quantization.merge_error(naive, intended)

    base = quantization.dequantized_base(AutoModelForCausalLM, tiny_llama, "cpu", torch.float32)
    assert not quantization.linear4bit_layers(base)
    merged = PeftModel.from_pretrained(base, tmp_path / "adapter").merge_and_unload().eval()
    with torch.no_grad():
        merged_diff = (merged(input_ids=x).logits - reference).abs().max().item()
    assert merged_diff < 1e-4 and quantization.merge_error(merged, intended) < 1e-6
    assert naive_diff > 100 * merged_diff and naive_error > 0.05


def test_nf4_memory_formula_matches_the_loaded_model(tiny_llama):
    from transformers import AutoConfig, AutoModelForCausalLM

    from hwutils.core.models import on_meta_device

    model = load_4bit(tiny_llama)
    estimate = quantization.nf4_weight_bytes(on_meta_device(AutoModelForCausalLM, AutoConfig.from_pretrained(tiny_llama)),
                                             other_bytes=4)
    scales = sum(layer.weight.quant_state.absmax.numel() for layer in quantization.linear4bit_layers(model))  # 8-bit each
    assert abs(estimate["nf4_bytes"] - (model.get_memory_footprint() + scales)) / estimate["nf4_bytes"] < 0.01
