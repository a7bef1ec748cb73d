"""The full profile's models computed offline: the architectures and their module sizes (analytic and counted).

The full profile cannot run here (no GPU, no Hub). Its architectures can: their published
``config.json`` values are copied below, the models are built on PyTorch's ``meta`` device (shapes
only, no memory), wrapped with the same peft modules as the notebook's, and their parameters
counted. Memory and time on a T4 are estimated by the core preflight (:mod:`hwutils.composition.preflight`).
"""

from __future__ import annotations

from typing import Any

from hwutils.core import models
from hwutils.core.errors import ConfigError

# google-t5/t5-base/config.json (https://huggingface.co/google-t5/t5-base), without task_specific_params.
T5_BASE = {"d_ff": 3072, "d_kv": 64, "d_model": 768, "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1,
           "feed_forward_proj": "relu", "initializer_factor": 1.0, "is_encoder_decoder": True, "layer_norm_epsilon": 1e-6,
           "model_type": "t5", "n_positions": 512, "num_heads": 12, "num_layers": 12, "pad_token_id": 0,
           "relative_attention_num_buckets": 32, "vocab_size": 32128}
# openai-community/gpt2-medium/config.json (https://huggingface.co/openai-community/gpt2-medium).
GPT2_MEDIUM = {"activation_function": "gelu_new", "n_ctx": 1024, "n_embd": 1024, "n_head": 16, "n_layer": 24,
               "n_positions": 1024, "vocab_size": 50257, "layer_norm_epsilon": 1e-5, "model_type": "gpt2"}
ARCHITECTURES = {"google-t5/t5-base": T5_BASE, "openai-community/gpt2-medium": GPT2_MEDIUM}



def build_on_meta(name: str):
    """The architecture ``name`` (a key of :data:`ARCHITECTURES`) on the meta device, and its config."""
    from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration

    values = ARCHITECTURES.get(name)
    if values is None:
        raise ConfigError(f"no offline config for {name!r}; known: {', '.join(ARCHITECTURES)}")
    if values["model_type"] == "t5":
        config = T5Config(**values)
        return models.on_meta_device(T5ForConditionalGeneration, config), config
    config = GPT2Config(**{k: v for k, v in values.items() if k != "model_type"})
    return models.on_meta_device(GPT2LMHeadModel, config), config


def analytic_module_parameters(config: Any, method: str, lora_r: int) -> int:
    """Parameters a LoRA (T5: q and v; GPT-2: c_attn) or (IA)³ (peft's default targets) module adds, from the config."""
    if config.model_type == "t5":
        inner = config.num_heads * config.d_kv
        attention_layers = config.num_layers + 2 * config.num_decoder_layers  # decoder: self- and cross-attention
        if method == "lora":
            shapes = {"q": (config.d_model, inner), "v": (config.d_model, inner)}
            return models.lora_parameters(shapes, lora_r, ["q", "v"], layers=attention_layers)
        # (IA)³: a vector on the output of k and v, and on the input of the feed-forward output wo
        return attention_layers * 2 * inner + (config.num_layers + config.num_decoder_layers) * config.d_ff
    if config.model_type == "gpt2":
        width, inner = config.n_embd, config.n_inner or 4 * config.n_embd
        if method == "lora":
            return models.lora_parameters({"c_attn": (width, 3 * width)}, lora_r, ["c_attn"], layers=config.n_layer)
        return config.n_layer * (3 * width + inner)  # c_attn's output and mlp.c_proj's input
    raise ConfigError(f"no analytic module count for model type {config.model_type!r}")


def module_parameter_rows(settings) -> list[dict[str, Any]]:
    """For each full-profile model and each method: the base's parameters, and the module's, analytic and counted."""
    from hwutils.composition.modules import attach_module, config_from_settings

    rows = []
    for name, task_type, targets, transposed in (("google-t5/t5-base", "SEQ_2_SEQ_LM", settings.lora_targets, False),
                                                 ("openai-community/gpt2-medium", "CAUSAL_LM", settings.lm_lora_targets, True)):
        for method in settings.methods:
            model, config = build_on_meta(name)
            base_total = models.count_parameters(model).total
            peft_model = attach_module(model, config_from_settings(method, settings, task_type, lora_targets=targets,
                                                                           fan_in_fan_out=transposed), 0)
            counted = models.count_parameters(peft_model).trainable
            analytic = analytic_module_parameters(config, method, settings.lora_r)
            rows.append({"model": name, "method": method, "base parameters": base_total, "module (analytic)": analytic,
                         "module (counted)": counted, "equal": analytic == counted, "module share": counted / base_total})
    return rows


JUDGE_PARAMETERS = 125_000_000  # unitary/unbiased-toxic-roberta is a RoBERTa-base classifier (about 125M parameters)
