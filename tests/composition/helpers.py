"""Tiny random models and modules for the unit tests of notebook 07 (built in milliseconds)."""

from __future__ import annotations

import torch

from hwutils.composition.modules import attach_module, module_state, peft_config

WORDS = ["the plot was great", "the food was awful", "a lovely ending", "a boring script", "positive", "negative",
         "premise hypothesis entailment neutral contradiction", "you are a clueless fool", "the old mill is a landmark"]


def random_t5(seed: int = 0, vocab_size: int = 160):
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=vocab_size, d_model=32, d_ff=48, d_kv=8, num_heads=4, num_layers=2, num_decoder_layers=1,
                      dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return T5ForConditionalGeneration(config).eval()


def random_gpt2(seed: int = 0, vocab_size: int = 160):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=32, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config).eval()


def wrapped(method: str, architecture: str = "t5", init_seed: int = 0, model_seed: int = 0, **options):
    """A random base of ``architecture`` with an untrained module of ``method``."""
    options = {"lora_r": 4, "lora_alpha": 8, **options}
    if architecture == "t5":
        return attach_module(random_t5(model_seed), peft_config(method, "SEQ_2_SEQ_LM", **options), init_seed)
    return attach_module(random_gpt2(model_seed), peft_config(method, "CAUSAL_LM", fan_in_fan_out=True, **options), init_seed)


def perturbed(state: dict[str, torch.Tensor], seed: int, parts: tuple[str, ...] = ("lora_A", "lora_B", "ia3_l"),
              size: float = 0.3) -> dict[str, torch.Tensor]:
    """``state`` with random noise added to the tensors whose names contain one of ``parts``: a stand-in
    for a trained module (an untrained LoRA module has B = 0, an untrained (IA)³ module l = 1)."""
    generator = torch.Generator().manual_seed(seed)
    return {n: t + size * torch.randn(t.shape, generator=generator) if any(p in n for p in parts) else t.clone()
            for n, t in state.items()}


def trained_like(method: str, architecture: str = "t5", init_seed: int = 0, noise_seed: int = 1):
    """A wrapped random model and a module state that changes its outputs (noise on every module tensor,
    or for LoRA only on B, so that the module keeps the A of its initialisation)."""
    model = wrapped(method, architecture, init_seed)
    parts = ("lora_B",) if method == "lora" else ("ia3_l",)
    return model, perturbed(module_state(model), noise_seed, parts)


def tiny_tokenizer():
    from hwutils.composition.fixtures import t5_style_tokenizer

    return t5_style_tokenizer(WORDS * 3, vocab_size=150)
