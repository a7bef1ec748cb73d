"""Merging a QLoRA adapter: into a dequantised copy (exact) and into the 4-bit weights (drifts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwutils.llm import merging, quantization
from tests.llm.helpers import load_4bit, random_llama, with_lora  # noqa: F401 (random_llama: a fixture)


def test_merging_into_a_dequantized_copy_is_exact_and_into_4bit_drifts(random_llama, tmp_path):
    from transformers import AutoModelForCausalLM

    adapter_model = with_lora(load_4bit(random_llama)).eval()
    x = torch.randint(0, 64, (3, 12))
    with torch.no_grad():
        reference = adapter_model(input_ids=x).logits
    adapter_model.save_pretrained(tmp_path / "adapter")
    intended = merging.intended_merge(adapter_model)
    assert len(intended) == 2  # the q projection of both layers

    naive, notes = merging.merge_into_4bit(adapter_model)
    assert quantization.linear4bit_layers(naive) and any("4-bit" in note for note in notes)
    with torch.no_grad():
        naive_diff = (naive(input_ids=x).logits - reference).abs().max().item()
    naive_error = merging.merge_error(naive, intended)

    shard = merging.merge_streamed(random_llama, tmp_path / "adapter", tmp_path / "merged", "cpu", torch.float32, quantized=True)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    assert not quantization.linear4bit_layers(merged) and not hasattr(merged, "peft_config")
    assert shard["largest_shard_bytes"] == sum(p.numel() * 4 for p in merged.parameters())  # one shard: the whole tiny model
    with torch.no_grad():
        merged_diff = (merged(input_ids=x).logits - reference).abs().max().item()
    assert merged_diff < 1e-4 and merging.merge_error(merged, intended) < 1e-6
    assert naive_diff > 100 * merged_diff and naive_error > 0.05


def test_the_streamed_merge_equals_the_in_memory_merge_bit_for_bit(random_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with_lora(load_4bit(random_llama)).save_pretrained(tmp_path / "adapter")
    in_memory = PeftModel.from_pretrained(merging.dequantized_base(AutoModelForCausalLM, random_llama, "cpu", torch.float32),
                                          str(tmp_path / "adapter")).merge_and_unload()
    merging.merge_streamed(random_llama, tmp_path / "adapter", tmp_path / "merged", "cpu", torch.float32, quantized=True)
    streamed = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").state_dict()
    for name, tensor in in_memory.state_dict().items():
        assert torch.equal(streamed[name], tensor), name


def test_dequantized_base_holds_the_weights_the_adapter_was_trained_against(random_llama):
    from transformers import AutoModelForCausalLM

    four_bit = load_4bit(random_llama)
    base = merging.dequantized_base(AutoModelForCausalLM, random_llama, "cpu", torch.float32)
    assert not quantization.linear4bit_layers(base)
    layer = "model.layers.0.self_attn.q_proj"
    torch.testing.assert_close(merging.dense_weight(base.get_submodule(layer)),
                               merging.dense_weight(four_bit.get_submodule(layer)))
    original = AutoModelForCausalLM.from_pretrained(random_llama).get_submodule(layer).weight
    assert (merging.dense_weight(base.get_submodule(layer)) - original).abs().max() > 1e-3  # NF4 rounding, kept


def test_merge_row_compares_with_the_reference_scores():
    reference = np.array([[0.0, -1.0, -2.0], [-2.0, 0.0, -1.0], [-1.0, -2.0, 0.0], [0.0, -0.1, -3.0]])
    drifted = reference + np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-0.3, 0.0, 0.0]])
    row = merging.merge_row("drifted", drifted, reference, y_true=[0, 1, 1, 0], weight_error=0.4)
    assert row["max abs Δ label score"] == pytest.approx(0.3)
    assert row["same prediction as adapter"] == 0.75  # the last example flips from label 0 to 1
    assert row["accuracy"] == 0.5 and row["q_proj weight error ÷ norm of ΔW"] == 0.4  # against the true labels
