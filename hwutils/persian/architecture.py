"""The full profile's checkpoint on paper: its shape, parameter counts, and what a T4 needs.

Nothing here downloads weights. A local folder's ``config.json`` is read as is; for the Hub
checkpoints the notebook may use, the published ``config.json`` values are kept below (copied
from the model cards' configs; the notebook says they were not fetched live). The model is then
built on the **meta device** (shapes only, no memory) and its parameters counted, and the count
is checked against the analytic one: embeddings ``V·d``; per layer the query and output
projections ``d·d`` each, keys and values ``d·(kv_heads·head_dim)`` each, with biases on query,
key and value (Qwen2), the SwiGLU MLP ``3·d·I``, two RMSNorm gains; a final norm; an output layer
that shares the embedding matrix when ``tie_word_embeddings``.

The T4 estimates (:func:`t4_memory_rows`, :func:`t4_time_rows`) are arithmetic on these shapes and
on stated assumptions (peak fp16 throughput, memory bandwidth, utilisation), worded as estimates.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwutils.core.models import count_parameters, on_meta_device

# Published config.json values of the candidate checkpoints (architectures Qwen2ForCausalLM).
PUBLISHED_CONFIGS: dict[str, dict[str, Any]] = {
    "Qwen/Qwen2.5-1.5B-Instruct": dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                       num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                                       rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
    "Qwen/Qwen2.5-0.5B-Instruct": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                       num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                                       rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
}


def architecture_config(source: str):
    """The ``Qwen2Config`` of ``source``: a local folder's ``config.json``, or a published config above."""
    from transformers import AutoConfig, Qwen2Config

    if Path(source).is_dir():
        return AutoConfig.from_pretrained(source)
    if source in PUBLISHED_CONFIGS:
        return Qwen2Config(**PUBLISHED_CONFIGS[source])
    raise KeyError(f"no published config kept for {source!r}; known: {', '.join(PUBLISHED_CONFIGS)}")


def analytic_parameters(config: Any) -> dict[str, int]:
    """Parameters of a Qwen2 decoder by part, from its config alone."""
    d, n_layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    attention = (d * d + d) + 2 * (d * kv + kv) + d * d  # q (+bias), k and v (+bias), o
    mlp = 3 * d * config.intermediate_size  # gate, up, down (no biases)
    layer = attention + mlp + 2 * d  # two RMSNorm gains
    embeddings = vocab * d
    output = 0 if config.tie_word_embeddings else vocab * d
    return {"embeddings": embeddings, "attention per layer": attention, "MLP per layer": mlp,
            "one layer": layer, "all layers": n_layers * layer, "final norm": d, "output layer": output,
            "total": embeddings + n_layers * layer + d + output}


def counted_parameters(config: Any) -> int:
    """Parameters of the architecture built on the meta device (tied weights counted once)."""
    from transformers import AutoModelForCausalLM

    return count_parameters(on_meta_device(AutoModelForCausalLM, config)).total


# ---------------------------------------------------------------------------------------------
# Estimates for a 16 GB T4
# ---------------------------------------------------------------------------------------------

T4 = {"memory_gib": 15.0, "fp16_tflops": 65.0, "bandwidth_gbs": 320.0}  # usable memory, peak tensor-core fp16, HBM


def activation_bytes(config: Any, batch: int, length: int, bytes_per_value: int = 2) -> int:
    """Activations kept for the backward pass of one step through every layer, after Korthikanti
    et al. (2022): about ``length·batch·d·(34 + 5·heads·length/d)`` bytes per layer in 16-bit
    (the second term is the attention matrix; fused attention kernels avoid most of it)."""
    d, heads = config.hidden_size, config.num_attention_heads
    per_layer = length * batch * d * (34 + 5 * heads * length / d) * bytes_per_value / 2
    return int(config.num_hidden_layers * per_layer)


def t4_memory_rows(config: Any, total_parameters: int, *, train_batch: int, train_length: int, eval_batch: int,
                   eval_length: int, generation_sequences: int, generation_length: int) -> list[dict[str, Any]]:
    """Estimated GPU memory (GiB) of each phase in float16: the weights, plus what the phase adds.

    A forward pass without gradients holds about one layer's activations at a time; training
    holds every layer's (:func:`activation_bytes`). Logits cost ``vocab × (2 + 4)`` bytes per
    position kept (float16, then float32 for the log-softmax): the core's scorer keeps the last
    few positions, the soft-prompt trainer and scorer keep every position. Sampling adds the
    key/value cache of every sequence."""
    gib, vocab, layers = 2**30, config.vocab_size, config.num_hidden_layers
    weights = total_parameters * 2
    head_dim = config.hidden_size // config.num_attention_heads
    kv_cache = 2 * layers * config.num_key_value_heads * head_dim * generation_sequences * generation_length * 2
    rows = [
        {"phase": "weights (float16)", "estimate_gib": weights / gib},
        {"phase": "scoring hard prompts (forward, last positions' logits)",
         "estimate_gib": (weights + activation_bytes(config, eval_batch, eval_length) / layers + eval_batch * 3 * vocab * 6) / gib},
        {"phase": "soft-prompt training (all activations and logits)",
         "estimate_gib": (weights + activation_bytes(config, train_batch, train_length) + train_batch * train_length * vocab * 6) / gib},
        {"phase": "scoring soft prompts (forward, all logits)",
         "estimate_gib": (weights + activation_bytes(config, eval_batch, train_length) / layers
                          + eval_batch * train_length * vocab * 6) / gib},
        {"phase": "sampling chains (key/value cache)",
         "estimate_gib": (weights + kv_cache + generation_sequences * vocab * 6) / gib},
    ]
    for row in rows:
        row["fits_t4"] = row["estimate_gib"] <= T4["memory_gib"]
    return rows


def t4_time_rows(total_parameters: int, phases: Mapping[str, Mapping[str, float]], utilisation: float,
                 bandwidth_efficiency: float) -> list[dict[str, Any]]:
    """Estimated seconds of each phase on a T4. ``phases`` maps a name to
    ``{"forward_tokens": ..., "backward_tokens": ..., "decode_steps": ...}``: forward passes cost
    ``2·P`` FLOPs per token and a backward pass to the inputs about ``2·P`` more (no weight
    gradients), at ``utilisation`` of the fp16 peak; each decoding step of a batch reads every
    weight once (``2·P`` bytes) at ``bandwidth_efficiency`` of the bandwidth."""
    flops_per_s = T4["fp16_tflops"] * 1e12 * utilisation
    bytes_per_s = T4["bandwidth_gbs"] * 1e9 * bandwidth_efficiency
    rows = []
    for name, work in phases.items():
        compute = 2 * total_parameters * (work.get("forward_tokens", 0) + work.get("backward_tokens", 0)) / flops_per_s
        decode = work.get("decode_steps", 0) * 2 * total_parameters / bytes_per_s
        rows.append({"phase": name, "estimate_s": compute + decode})
    return rows


def full_run_phases(settings: Mapping[str, Any], virtual_tokens: int = 32, labels: int = 2,
                    tokens_per_solved_problem: int = 125, methods: int = 3) -> dict[str, dict[str, float]]:
    """The work of a run with ``settings`` (the full profile's), phase by phase, for
    :func:`t4_time_rows`. Lengths are upper bounds: a comment is ``max_length`` tokens, a soft
    prompt at most ``virtual_tokens``, a problem with its chain ``tokens_per_solved_problem``."""
    comment = settings["max_length"] + 8  # the layout's own tokens
    zero_shot = virtual_tokens + comment
    few_shot = virtual_tokens + (settings["shots"] + 1) * comment
    test, steps, batch = settings["test_examples"], settings["soft_prompt_steps"], settings["batch_size"]
    evaluations = steps // settings["eval_every"] + 1
    problems, generation_batch = settings["reasoning_examples"], settings["generation_batch_size"]
    batches = -(-problems // generation_batch)
    few_shot_problem = (settings["reasoning_shots"] + 1) * tokens_per_solved_problem
    k_max = max(settings["self_consistency_ks"])
    return {
        "hard prompts (zero-shot, calibrated, few-shot)": {"forward_tokens": labels * test * (2 * zero_shot + few_shot)},
        "soft prompts (3 methods: training, evaluation, scoring)": {
            "forward_tokens": methods * (steps * batch * zero_shot + evaluations * settings["validation_examples"] * zero_shot
                                         + 2 * labels * test * zero_shot),
            "backward_tokens": methods * steps * batch * zero_shot},
        "reasoning, greedy (4 methods)": {"forward_tokens": problems * (2 * tokens_per_solved_problem + 2 * few_shot_problem),
                                          "decode_steps": batches * (2 * settings["direct_max_new_tokens"]
                                                                     + 2 * settings["cot_max_new_tokens"])},
        f"self-consistency ({k_max} chains per problem)": {"forward_tokens": problems * k_max * few_shot_problem,
                                                           "decode_steps": batches * settings["cot_max_new_tokens"]},
    }
