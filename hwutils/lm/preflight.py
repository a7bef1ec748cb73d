"""Notebook 06 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

The character vocabulary depends on the corpus, which is not downloaded here: the estimate assumes
:data:`ASSUMED_VOCABULARY` characters, more than a Friends transcript holds (so it errs high).
"""

from __future__ import annotations

import torch

from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings
from hwutils.lm.nanogpt import GPT, GPTConfig

ASSUMED_VOCABULARY = 256


def workloads(settings: Settings) -> list[Workload]:
    """The character-level GPT's training run, in the precision the GPU gets (unless the setting says float32)."""
    config = GPTConfig(ASSUMED_VOCABULARY, settings.block_size, settings.n_layer, settings.n_head, settings.n_embd,
                       settings.dropout)

    def build() -> GPT:
        with torch.device("meta"):
            return GPT(config)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        shape = (settings.batch_size, settings.block_size)
        return torch.zeros(shape, dtype=torch.long, device="meta"), torch.zeros(shape, dtype=torch.long, device="meta")

    evaluations = settings.max_steps // settings.eval_every + 1
    return [Workload("char_lm", build, batch, loss=lambda model, b: model(*b)[1], autocast=settings.precision != "float32",
                     steps=settings.max_steps, forward_passes=2 * evaluations * settings.eval_batches,
                     remedy="batch_size=32")]


def disk(settings: Settings) -> dict[str, float]:
    """Bytes on disk: no checkpoint to download; the training checkpoint (model and AdamW state)."""
    parameters = sum(p.numel() for p in workloads(settings)[0].build().parameters())
    return {"outputs": parameters * 4 * 3}
