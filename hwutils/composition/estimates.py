"""The full profile's models computed offline: module sizes (analytic and counted), T4 memory and time.

The full profile cannot run here (no GPU, no Hub). Its architectures can: their published
``config.json`` values are copied below, the models are built on PyTorch's ``meta`` device (shapes
only, no memory), wrapped with the same peft modules as the notebook's, and their parameters
counted. Memory and time on a T4 are then *estimated* from these counts with the assumptions
stated next to each formula.
"""

from __future__ import annotations

from dataclasses import dataclass
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

# Assumptions of the T4 estimates.
T4_MEMORY_GIB = 15.0  # usable of the 16 GB
T4_SUSTAINED_TFLOPS = 20.0  # float16 tensor cores: 65 TFLOP/s peak, about a third sustained in training
CUDA_CONTEXT_GIB = 0.5  # CUDA context, cuBLAS workspaces and allocator slack


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


@dataclass(frozen=True)
class TrainingEstimate:
    """Estimated GPU memory (GiB) and time (minutes) of training one module, and the terms behind them."""

    weights_gib: float
    activations_gib: float
    total_gib: float
    minutes: float
    fits_t4: bool


def estimate_training(base_parameters: int, module_parameters: int, *, layers: int, width: int, heads: int,
                      batch: int, tokens: int, steps: int, vocab: int, target_tokens: int | None = None) -> TrainingEstimate:
    """Memory and time of training a module on a frozen base in float16 autocast, stated as an estimate:

    * weights: the base in float32 (autocast keeps float32 weights) and the module with its gradient
      and AdamW's two moments (16 bytes a parameter);
    * activations: per layer ``tokens·batch·width·34 + 5·heads·tokens²·batch`` bytes (Korthikanti et
      al., 2022, for float16 transformer layers), plus the logits (float32) of the predicted tokens;
    * time: a frozen base skips its weight gradients, so about ``4 × parameters × tokens`` floating-point
      operations a step, at :data:`T4_SUSTAINED_TFLOPS`.
    """
    gib = 2**30
    weights = (4 * base_parameters + 16 * module_parameters) / gib
    per_layer = tokens * batch * width * 34 + 5 * heads * tokens**2 * batch
    predicted = target_tokens if target_tokens is not None else tokens
    activations = (layers * per_layer + batch * predicted * vocab * 4 * 2) / gib
    total = weights + activations + CUDA_CONTEXT_GIB
    flops = 4 * base_parameters * batch * (tokens + (target_tokens or 0)) * steps
    return TrainingEstimate(weights, activations, total, flops / (T4_SUSTAINED_TFLOPS * 1e12) / 60, total <= T4_MEMORY_GIB)


JUDGE_PARAMETERS = 125_000_000  # unitary/unbiased-toxic-roberta is a RoBERTa-base classifier (about 125M parameters)


def experiment_estimates(full_settings) -> list[dict[str, Any]]:
    """Estimated peak memory and training time on a T4 of each experiment of the full profile.

    Training is estimated at the padded length ``max_length`` (an upper bound); scoring adds a few
    minutes, sampling in experiment 3 the most. The peak adds to the training run the float32 copies
    the notebook keeps on the GPU for scoring: one T5 per method plus the rank-2r LoRA of experiment 4,
    and in experiment 3 one GPT-2 per method and the toxicity judge.
    """
    from transformers import GPT2Config, T5Config

    s = full_settings
    t5, gpt2 = T5Config(**T5_BASE), GPT2Config(**{k: v for k, v in GPT2_MEDIUM.items() if k != "model_type"})
    t5_total, gpt2_total = 222_903_552, 354_823_168  # counted on the meta device (module_parameter_rows)
    t5_module = max(analytic_module_parameters(t5, m, s.lora_r) for m in s.methods)
    gpt2_module = max(analytic_module_parameters(gpt2, m, s.lora_r) for m in s.methods)
    one_t5 = estimate_training(t5_total, t5_module, layers=t5.num_layers + 2 * t5.num_decoder_layers, width=t5.d_model,
                               heads=t5.num_heads, batch=s.batch_size, tokens=s.max_length, steps=s.max_steps,
                               vocab=t5.vocab_size, target_tokens=8)
    one_gpt2 = estimate_training(gpt2_total, gpt2_module, layers=gpt2.n_layer, width=gpt2.n_embd, heads=gpt2.n_head,
                                 batch=s.lm_batch_size, tokens=s.lm_max_length, steps=s.lm_steps, vocab=gpt2.vocab_size)
    methods = len(s.methods)
    t5_kept = 4 * (methods + 1) * t5_total / 2**30
    lm_kept = t5_kept + 4 * (methods * gpt2_total + JUDGE_PARAMETERS) / 2**30
    plan = [("1 · distribution generalisation", "t5-base", 3 * methods, one_t5, t5_kept),
            ("2 · multi-tasking", "t5-base", methods, one_t5, t5_kept),
            ("3 · unlearning", "gpt2-medium", methods, one_gpt2, lm_kept),
            ("4 · initialisation", "t5-base", 1, one_t5, t5_kept),
            ("5 · domain transfer", "t5-base", 2, one_t5, lm_kept)]
    return [{"experiment": name, "model": model, "modules trained": n, "training peak (GiB, est.)": e.total_gib,
             "with the scoring copies (GiB, est.)": e.total_gib + kept, "fits a T4": e.total_gib + kept <= T4_MEMORY_GIB,
             "training (min, est.)": n * e.minutes} for name, model, n, e, kept in plan]
