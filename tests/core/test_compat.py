"""opendelta 0.3.2 is importable through hwutils.core.compat and trains a LoRA on a tiny T5."""

from __future__ import annotations

import sys

import torch
from transformers import T5Config, T5ForConditionalGeneration

from hwutils.core.compat import import_opendelta, install_opendelta_shims


def tiny_t5() -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    config = T5Config(vocab_size=64, d_model=32, d_ff=64, d_kv=8, num_layers=2, num_decoder_layers=2, num_heads=4,
                      decoder_start_token_id=0, pad_token_id=0)
    return T5ForConditionalGeneration(config)


def test_shims_are_idempotent_and_alias_deepspeed():
    install_opendelta_shims()
    install_opendelta_shims()
    import transformers.integrations.deepspeed as deepspeed

    assert sys.modules["transformers.deepspeed"] is deepspeed


def test_opendelta_lora_on_tiny_t5_trains_one_step():
    opendelta = import_opendelta()
    model = tiny_t5()
    delta = opendelta.LoraModel(backbone_model=model, modified_modules=["SelfAttention.q", "SelfAttention.v"], lora_r=4)
    delta.freeze_module(exclude=["deltas"], set_state_dict=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora" in n for n in trainable)
    # 2 encoder + 2 decoder self-attention blocks, q and v each: A (4x32) + B (32x4)
    assert sum(p.numel() for n, p in model.named_parameters() if n in trainable) == 4 * 2 * (4 * 32 + 32 * 4)

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs, labels = torch.randint(1, 64, (2, 6)), torch.randint(1, 64, (2, 3))
    loss = model(input_ids=inputs, labels=labels).loss
    loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert changed and changed <= trainable, "only LoRA parameters may change"
