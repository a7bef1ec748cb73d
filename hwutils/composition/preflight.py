"""Notebook 07 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

Each experiment trains modules (LoRA or (IA)³) on a frozen T5-base or GPT-2 medium, one at a time,
while the notebook keeps on the GPU the float32 models it scores with (one per method for T5, the
rank-2r LoRA of experiment 4; for experiment 3 one GPT-2 per method and the toxicity judge): the
workloads carry those models as ``extra_bytes``.
"""

from __future__ import annotations

import torch

from hwutils.composition.estimates import JUDGE_PARAMETERS, build_on_meta
from hwutils.composition.modules import attach_module, config_from_settings
from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings

T5_TARGET_TOKENS = 8  # a label word and its end-of-sequence, as the notebook's verdict targets


def _parameters(name: str) -> int:
    return sum(p.numel() for p in build_on_meta(name)[0].parameters())


# How many modules the notebook trains, per base model and method: experiment 1's two halves and all
# the data, experiment 2's NLI module, and for LoRA experiment 4's other initialisation and
# experiment 5's two language-model modules; experiment 3's toxic module on GPT-2.
T5_TRAININGS = {"lora": 7, "ia3": 4}
GPT2_TRAININGS = {"lora": 1, "ia3": 1}


def _module_workload(method: str, settings: Settings, *, causal: bool, scoring_copies: int) -> Workload:
    name = settings.lm_model if causal else settings.model
    targets = settings.lm_lora_targets if causal else settings.lora_targets
    batch_size = settings.lm_batch_size if causal else settings.batch_size
    length = settings.lm_max_length if causal else settings.max_length
    trainings = (GPT2_TRAININGS if causal else T5_TRAININGS).get(method, 1)
    steps = (settings.lm_steps if causal else settings.max_steps) * trainings

    def build() -> torch.nn.Module:
        model, _ = build_on_meta(name)
        config = config_from_settings(method, settings, "CAUSAL_LM" if causal else "SEQ_2_SEQ_LM",
                                      lora_targets=targets, fan_in_fan_out=causal)
        return attach_module(model, config, 0)

    def batch() -> dict[str, torch.Tensor]:
        with torch.device("meta"):
            ids = torch.zeros(batch_size, length, dtype=torch.long)
            labels = ids if causal else torch.zeros(batch_size, T5_TARGET_TOKENS, dtype=torch.long)
            if causal:  # no mask: a causal LM's mask code reads values, which the meta device has none of
                return {"input_ids": ids, "labels": labels}
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}

    kept = scoring_copies * _parameters(name) * 4 + (JUDGE_PARAMETERS * 4 if causal else 0)
    return Workload(f"{'gpt2' if causal else 't5'}_{method}_modules (x{trainings})", build, batch, steps=steps, extra_bytes=kept,
                    extra_note="float32 models kept on the GPU for scoring", remedy="batch_size=16")


def workloads(settings: Settings) -> list[Workload]:
    """The T5 modules of each method (experiments 1, 2, 4, 5) and the GPT-2 module of each method
    (experiment 3); a workload's memory is one training's, its time all its trainings'."""
    methods = list(settings.methods)
    t5 = [_module_workload(m, settings, causal=False, scoring_copies=len(methods) + 1) for m in methods]
    gpt2 = [_module_workload(m, settings, causal=True, scoring_copies=len(methods)) for m in methods]
    return t5 + gpt2


def disk(settings: Settings) -> dict[str, float]:
    """Downloads of the three checkpoints (float32) and the datasets (amazon_polarity is about 1.1 GB);
    the adapters saved under ``modules/`` are a few MB each."""
    checkpoints = (_parameters(settings.model) + _parameters(settings.lm_model) + JUDGE_PARAMETERS) * 4
    return {"model downloads": checkpoints, "dataset downloads": 1.1e9 + 0.3e9, "outputs": 0.1e9}
