"""Llama parameter counts: analytic formulas against the real architecture on the meta device."""

from __future__ import annotations

import pytest

from hwutils.core.errors import ConfigError
from hwutils.llm import architecture as arch

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"]


@pytest.mark.slow
def test_llama_3_8b_counts_match_the_meta_device_model():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from hwutils.core.models import on_meta_device

    meta = on_meta_device(AutoModelForCausalLM, arch.llama_config())
    assert sum(p.numel() for p in meta.parameters()) == arch.llama_parameters(arch.LLAMA_3_8B) == 8_030_261_248
    trainable, _ = get_peft_model(meta, LoraConfig(r=16, target_modules=TARGETS)).get_nb_trainable_parameters()
    assert trainable == arch.llama_lora_parameters(arch.LLAMA_3_8B, 16, TARGETS) == 32_505_856


def test_grouped_query_attention_shapes_and_unknown_targets():
    shapes = arch.projection_shapes(arch.LLAMA_3_8B)
    assert shapes["k_proj"] == (4096, 1024) and shapes["gate_proj"] == (4096, 14336)
    assert arch.llama_lora_parameters(arch.LLAMA_3_8B, 8, ["q_proj", "v_proj"]) == 32 * 8 * (8192 + 5120)
    with pytest.raises(ConfigError, match="no analytic LoRA count for target"):
        arch.llama_lora_parameters(arch.LLAMA_3_8B, 16, ["query"])
