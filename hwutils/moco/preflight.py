"""Notebook 08 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

Every run trains the query encoder (SGD with momentum) and carries the key encoder (a frozen copy,
updated by momentum) and the queue of keys; the largest runs are the reference run, the largest
queue of experiment 2, and experiment 3's runs (same model, smaller queue).
"""

from __future__ import annotations

import torch

from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings
from hwutils.moco.model import MoCo, MoCoConfig

IMAGE_SIZE = 32  # CIFAR-10


def config_of(settings: Settings, queue_size: int) -> MoCoConfig:
    return MoCoConfig(widths=tuple(settings.encoder_widths), depths=tuple(settings.encoder_depths),
                      feature_dim=settings.feature_dim, queue_size=queue_size, temperature=settings.moco_temperature,
                      bn_splits=settings.bn_splits)


def moco_workload(name: str, config: MoCoConfig, batch_size: int, steps: int) -> Workload:
    """One MoCo training run: two encoders (the key encoder frozen), the queue, two views per image."""

    def build() -> MoCo:
        with torch.device("meta"):
            return MoCo(config)

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.device("meta"):
            views = torch.empty(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE)
            return views, views, torch.arange(batch_size)

    queue_bytes = config.queue_size * (config.feature_dim * 4 + 8)  # keys (float32) and their source ids (int64)
    return Workload(name, build, batch, loss=lambda model, b: model(*b), optimizer="sgd_momentum", steps=steps,
                    extra_bytes=queue_bytes, extra_note="the queue of keys", remedy="batch_size=128")


def workloads(settings: Settings) -> list[Workload]:
    """The reference run (every run of experiment 1 costs the same), the largest queue of experiment 2,
    and the runs of experiment 3."""
    runs = len(settings.momentums)
    return [
        moco_workload("momentum_sweep_run", config_of(settings, settings.queue_size), settings.batch_size,
                      settings.moco_steps * runs),
        moco_workload("largest_queue_run", config_of(settings, max(settings.queue_sizes)), settings.batch_size,
                      settings.moco_steps * len(settings.queue_sizes)),
        moco_workload("augmented_copies_runs", config_of(settings, settings.subset_queue_size), settings.batch_size,
                      settings.subset_steps * 4),
    ]


def disk(settings: Settings) -> dict[str, float]:
    """CIFAR-10's download (about 0.17 GB as parquet on the Hub, by its card) and one checkpoint per run
    (both encoders, and SGD's momentum for the query encoder)."""
    parameters = sum(p.numel() for p in workloads(settings)[0].build().parameters())
    runs = len(settings.momentums) + len(settings.queue_sizes) + 4
    return {"downloads": 0.17e9, "outputs": runs * parameters * 4 * 1.5}
