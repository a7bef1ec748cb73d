"""Module sizes derived from a config against those counted on the meta device, and the T4 estimate."""

from __future__ import annotations

import pytest

from hwutils.composition import estimates
from hwutils.composition.modules import attach_module, peft_config
from hwutils.core import models
from hwutils.core.profiles import load_settings


@pytest.mark.parametrize("architecture", ["t5", "t5_deep_decoder", "gpt2"])
@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_analytic_module_size_equals_the_counted_one(architecture, method):
    from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration

    if architecture.startswith("t5"):
        config = T5Config(d_model=48, d_ff=80, d_kv=12, num_heads=3, num_layers=2,
                          num_decoder_layers=3 if architecture == "t5_deep_decoder" else None, vocab_size=50)
        model, task_type, targets, transposed = models.on_meta_device(T5ForConditionalGeneration, config), "SEQ_2_SEQ_LM", ["q", "v"], False
    else:
        config = GPT2Config(n_embd=48, n_layer=3, n_head=4, vocab_size=50, n_positions=16)
        model, task_type, targets, transposed = models.on_meta_device(GPT2LMHeadModel, config), "CAUSAL_LM", ["c_attn"], True
    peft_model = attach_module(model, peft_config(method, task_type, lora_r=4, lora_alpha=8, lora_targets=targets,
                                                  fan_in_fan_out=transposed), 0)
    assert estimates.analytic_module_parameters(config, method, 4) == models.count_parameters(peft_model).trainable


@pytest.mark.slow
def test_full_profile_modules_are_counted_offline():
    rows = estimates.module_parameter_rows(load_settings("07_pem_composition", "full"))
    by = {(r["model"], r["method"]): r for r in rows}
    assert by["google-t5/t5-base", "lora"]["base parameters"] == 222_903_552
    assert by["openai-community/gpt2-medium", "lora"]["base parameters"] == 354_823_168
    # LoRA r=8 on q, v of 36 attention layers of width 768; on c_attn (1024 -> 3072) of 24 blocks
    assert by["google-t5/t5-base", "lora"]["module (counted)"] == 36 * 2 * 8 * (768 + 768) == 884_736
    assert by["openai-community/gpt2-medium", "lora"]["module (counted)"] == 24 * 8 * (1024 + 3072) == 786_432
    assert all(r["equal"] for r in rows)


@pytest.mark.slow
def test_the_full_profile_fits_a_t4_by_the_core_preflight():
    from hwutils.composition import preflight as composition_preflight
    from hwutils.core import preflight

    workloads = composition_preflight.workloads(load_settings("07_pem_composition", "full"))
    estimates_on_t4 = [preflight.estimate(w, preflight.GPUS["t4"]) for w in workloads]
    assert len(estimates_on_t4) == 4 and all(e.fits for e in estimates_on_t4)
    assert all(e.extra > 0 for e in estimates_on_t4), "the scoring copies kept on the GPU are counted"
