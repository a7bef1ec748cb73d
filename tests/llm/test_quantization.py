"""4-bit loading (and its fallback), the AVX512-BF16 fix, and the memory NF4 takes."""

from __future__ import annotations

import pytest
import torch

from hwutils.llm import quantization
from tests.llm.helpers import load_4bit, random_llama, with_lora  # noqa: F401 (random_llama: a fixture)


def test_four_bit_loads_on_this_cpu_and_falls_back_with_a_note(random_llama, monkeypatch):
    from transformers import AutoModelForCausalLM

    assert quantization.four_bit_support("cpu").available  # bitsandbytes >= 0.46 runs NF4 on CPUs
    model = load_4bit(random_llama)
    assert len(quantization.linear4bit_layers(model)) == 2 * 7  # every projection of both layers
    assert all(not layer.support_avx512bf16_for_cpu for layer in quantization.linear4bit_layers(model))

    monkeypatch.setattr(quantization, "four_bit_support",
                        lambda device: quantization.FourBitSupport(False, "simulated: no bitsandbytes backend"))
    fallback = quantization.load_quantized(AutoModelForCausalLM, random_llama, "cpu", torch.float32)
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


@pytest.mark.slow
def test_keeping_the_cpu_4bit_layout_keeps_every_lora_gradient(random_llama):
    model = with_lora(load_4bit(random_llama))  # load_quantized applies the fix
    assert lora_tensors_without_gradient(model) == 0

    import bitsandbytes as bnb

    broken = with_lora(load_4bit(random_llama))
    for layer in quantization.linear4bit_layers(broken):
        layer.support_avx512bf16_for_cpu = bnb.functional.has_avx512bf16()  # bitsandbytes' default
    if bnb.functional.has_avx512bf16():  # the pitfall only exists on such CPUs
        assert lora_tensors_without_gradient(broken) > 0


def test_nf4_memory_formula_matches_the_loaded_model(random_llama):
    from transformers import AutoConfig, AutoModelForCausalLM

    from hwutils.core.models import on_meta_device

    model = load_4bit(random_llama)
    estimate = quantization.nf4_weight_bytes(on_meta_device(AutoModelForCausalLM, AutoConfig.from_pretrained(random_llama)),
                                             other_bytes=4)
    scales = sum(layer.weight.quant_state.absmax.numel() for layer in quantization.linear4bit_layers(model))  # 8-bit each
    assert abs(estimate["nf4_bytes"] - (model.get_memory_footprint() + scales)) / estimate["nf4_bytes"] < 0.01


def test_memory_row_counts_16_bit_and_nf4_weights_of_an_architecture(random_llama):
    from transformers import AutoConfig, AutoModelForCausalLM

    from hwutils.core.models import on_meta_device
    from hwutils.llm.architecture import llama_parameters, projection_shapes

    config = AutoConfig.from_pretrained(random_llama)
    meta = on_meta_device(AutoModelForCausalLM, config)
    row = quantization.memory_row("tiny", meta, config, other_bytes=2, loaded_bytes=123_000_000)
    total = sum(p.numel() for p in meta.parameters())
    assert row["parameters"] == llama_parameters(config) == total
    per_layer = sum(i * o for i, o in projection_shapes(config).values())
    assert row["in quantised linear layers"] == config.num_hidden_layers * per_layer  # every projection, not lm_head
    assert row["bf16 weights (GB)"] == total * 2 / 1e9 and row["loaded (GB)"] == 0.123
    assert row["NF4 weights (GB)"] < row["bf16 weights (GB)"]
    assert row["NF4 weights (GB)"] * 1e9 == pytest.approx(quantization.nf4_weight_bytes(meta, other_bytes=2)["nf4_bytes"])

