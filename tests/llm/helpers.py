"""A random tiny Llama saved like a Hub checkpoint, loaded in 4-bit, with LoRA: shared by the llm tests."""

from __future__ import annotations

import pytest
import torch

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"]


@pytest.fixture(scope="module")
def random_llama(tmp_path_factory) -> str:
    """A random tiny Llama folder (fast, independent of the fixture's pre-training)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    folder = tmp_path_factory.mktemp("tiny_llama_random")
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


def load_4bit(source: str):
    """The model of ``source`` in 4-bit NF4 on the CPU (fails when bitsandbytes cannot do it here)."""
    from transformers import AutoModelForCausalLM

    from hwutils.llm import quantization

    loaded = quantization.load_quantized(AutoModelForCausalLM, source, "cpu", torch.float32)
    assert loaded.quantized, loaded.note
    return loaded.model


def with_lora(model, seed: int = 0):
    """``model`` prepared for k-bit training with LoRA r=8 on every projection, B drawn at random so
    that the update has a size (B = 0 at initialisation would make every merge trivially exact)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    torch.manual_seed(seed)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0, 0.05)
    return model
