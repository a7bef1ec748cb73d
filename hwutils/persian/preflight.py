"""Notebook 09 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

The model is loaded in the run's half precision on a GPU (2 bytes a parameter) and stays frozen;
the soft prompts (prompt tuning, P-tuning's MLP) train in float32 through the Trainer. Scoring and
generation are inference; their time here counts FLOPs only (the notebook's own estimate adds what
token-by-token decoding costs in memory bandwidth).
"""

from __future__ import annotations

import torch

from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings
from hwutils.persian.architecture import architecture_config

ASSUMED_VIRTUAL_TOKENS = 32  # prompt_tokens = 0 means "as many as the instruction's tokens": about this many in Qwen's tokenizer


def _base(settings: Settings):
    from transformers import AutoModelForCausalLM

    from hwutils.core.models import on_meta_device

    return on_meta_device(AutoModelForCausalLM, architecture_config(settings.model))


def _soft_prompt(settings: Settings, method: str):
    from peft import PromptEncoderConfig, PromptTuningConfig, TaskType, get_peft_model

    tokens = settings.prompt_tokens or ASSUMED_VIRTUAL_TOKENS
    if method == "p_tuning":
        config = PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=tokens,
                                     encoder_hidden_size=settings.p_tuning_encoder_hidden_size)
    else:  # the TEXT and RANDOM initialisations have the same shapes
        config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=tokens)
    return get_peft_model(_base(settings), config)


def _tokens(batch_size: int, length: int, labels: bool) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        ids = torch.zeros(batch_size, length, dtype=torch.long)
    # scoring and generation need the logits of the last positions only (as the notebook asks for them)
    return {"input_ids": ids, "labels": ids} if labels else {"input_ids": ids, "logits_to_keep": 3}


def workloads(settings: Settings) -> list[Workload]:
    """The three soft-prompt trainings, the hard prompts' scoring, and the sampled chains of thought."""
    train = [Workload(name, lambda m=method: _soft_prompt(settings, m), lambda: _tokens(settings.batch_size, settings.max_length, True),
                      frozen_bytes_per_parameter=2.0, steps=settings.soft_prompt_steps, remedy="batch_size=4")
             for name, method in (("prompt_tuning (text or random init)", "prompt_tuning"), ("p_tuning", "p_tuning"))]
    k_max = max(settings.self_consistency_ks)
    scoring = Workload("hard_prompt_scoring", lambda: _base(settings),
                       lambda: _tokens(settings.eval_batch_size, settings.max_length * (settings.shots + 1), False),
                       loss=lambda model, batch: model(**batch).logits.float().mean(), training=False,
                       frozen_bytes_per_parameter=2.0, forward_passes=3 * settings.test_examples // settings.eval_batch_size)
    chains = Workload("sampled_chains", lambda: _base(settings),
                      lambda: _tokens(settings.generation_batch_size, settings.cot_max_new_tokens + 256, False),
                      loss=lambda model, batch: model(**batch).logits.float().mean(), training=False,
                      frozen_bytes_per_parameter=2.0,
                      forward_passes=settings.reasoning_examples * (4 + sum(settings.self_consistency_ks)) // settings.generation_batch_size)
    return train + [scoring, chains]


def disk(settings: Settings) -> dict[str, float]:
    """The checkpoint (stored in bfloat16 on the Hub: 2 bytes a parameter), the comments, and the soft prompts."""
    parameters = sum(p.numel() for p in _base(settings).parameters())
    return {"model download": parameters * 2, "dataset download": 0.03e9, "outputs": 0.05e9}
