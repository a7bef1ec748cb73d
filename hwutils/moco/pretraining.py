"""One MoCo run from start to finish: build, pre-train (resumable), evaluate.

Every experiment of the notebook is a set of such runs that differ in one setting. :class:`Bench`
holds what all runs share (device, precision, augmentation, evaluation data, budgets); a run is
:func:`pretrain` (the core training loop with a checkpoint, SGD with a cosine learning rate as the
official demo uses) followed by :func:`evaluate`. Runs are seeded, so two runs that differ in one
setting start from the same weights and see the same batches.
The core loop's ``precision=`` runs each step under autocast, with loss scaling in float16 (a T4).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from pathlib import Path

import torch

from hwutils.core.precision import Precision
from hwutils.core.training import Checkpointer, TrainResult, train
from hwutils.moco.augment import Batches, Transform, TwoViews
from hwutils.moco.data import ImageSet
from hwutils.moco.evaluation import (QueueConsistency, extract_features, heldout_infonce, knn_accuracy,
                                     linear_probe)
from hwutils.moco.model import MoCo, MoCoConfig


@dataclass
class Bench:
    """What every run of the notebook shares."""

    device: torch.device
    precision: Precision
    seed: int
    checkpoints: Path  # one checkpoint file per run in this folder
    augmentation: Transform
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labelled: ImageSet  # kNN memory and linear-probe training set (labels used only here)
    test: ImageSet  # what kNN and the linear probe are scored on
    heldout_views: tuple[torch.Tensor, torch.Tensor]  # fixed pairs of views of test images
    batch_size: int
    lr: float
    weight_decay: float
    sgd_momentum: float
    checkpoint_every: int
    workers: int
    eval_batch_size: int
    knn_k: int
    knn_temperature: float
    probe_steps: int
    probe_lr: float
    extra_fingerprint: dict[str, Any] = field(default_factory=dict)

    def evaluated_on(self, labelled: ImageSet, test: ImageSet) -> "Bench":
        """The same bench, scoring representations with another labelled set and test set."""
        return replace(self, labelled=labelled, test=test)


@dataclass
class MoCoRun:
    name: str
    moco: MoCo
    training: TrainResult
    metrics: dict[str, float]


def build_moco(config: MoCoConfig, seed: int, device: torch.device) -> MoCo:
    """A MoCo model whose initial weights depend on ``seed`` only (not on the config's other values)."""
    torch.manual_seed(seed)
    return MoCo(config).to(device)


def pretrain(bench: Bench, name: str, config: MoCoConfig, items: TwoViews, *, steps: int,
             consistency: QueueConsistency | None = None) -> tuple[MoCo, TrainResult]:
    """Pre-train MoCo on the pairs of views of ``items`` for ``steps`` steps; resumes from
    ``checkpoints/<name>.pt`` when an earlier run of the same settings left one. With
    ``consistency``, the queue's consistency is measured every key lifetime (``queue_size /
    batch_size`` steps)."""
    moco = build_moco(config, bench.seed, bench.device)
    generator = torch.Generator().manual_seed(bench.seed)
    batches = Batches(items, bench.batch_size, generator, workers=bench.workers,
                      pin_memory=bench.device.type == "cuda")
    optimizer = torch.optim.SGD(moco.encoder_q.parameters(), lr=bench.lr, momentum=bench.sgd_momentum,
                                weight_decay=bench.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    def loss_fn(model: MoCo, batch) -> torch.Tensor:
        view_q, view_k, batch_sources = batch
        return model(view_q, view_k, batch_sources)

    lifetime = max(1, config.queue_size // bench.batch_size)
    fingerprint = {**config.as_dict(), "steps": steps, "images": len(items.images), "items": list(items.members.shape),
                   "sources": int(items.sources.max()) + 1, "seed": bench.seed, "batch_size": bench.batch_size,
                   "lr": bench.lr, "weight_decay": bench.weight_decay, "sgd_momentum": bench.sgd_momentum,
                   "precision": bench.precision.name, **bench.extra_fingerprint}
    checkpoint = Checkpointer(bench.checkpoints / f"{name}.pt", every=bench.checkpoint_every, fingerprint=fingerprint)
    training = train(moco, optimizer, batches, loss_fn, steps=steps, scheduler=scheduler, precision=bench.precision,
                     evaluate=(lambda: consistency(moco)) if consistency else None,
                     eval_every=lifetime if consistency else 0, checkpoint=checkpoint, generator=generator, desc=name)
    return moco, training


def evaluate(bench: Bench, moco: MoCo) -> dict[str, float]:
    """kNN and linear-probe accuracy of the query encoder's backbone, and the held-out InfoNCE."""
    features = {split: extract_features(moco.backbone(), images.images, bench.mean, bench.std,
                                        batch_size=bench.eval_batch_size, device=bench.device, precision=bench.precision)
                for split, images in (("labelled", bench.labelled), ("test", bench.test))}
    n_classes = len(bench.test.names)
    knn = knn_accuracy(features["labelled"].to(bench.device), bench.labelled.labels.to(bench.device),
                       features["test"].to(bench.device), bench.test.labels, n_classes, k=bench.knn_k,
                       temperature=bench.knn_temperature)  # on the GPU: 10,000 x 50,000 similarities
    probe = linear_probe(features["labelled"], bench.labelled.labels, features["test"], bench.test.labels, n_classes,
                         steps=bench.probe_steps, lr=bench.probe_lr, weight_decay=0.0, device=bench.device)
    view_q, view_k = (v.to(bench.device) for v in bench.heldout_views)
    return {"knn_accuracy": knn, "linear_probe_accuracy": probe,
            "heldout_infonce": heldout_infonce(moco, view_q, view_k, bench.precision)}


def pretrain_and_evaluate(bench: Bench, name: str, config: MoCoConfig, items: TwoViews, *, steps: int,
                          consistency: QueueConsistency | None = None) -> MoCoRun:
    """:func:`pretrain`, then :func:`evaluate`, then the run's false-negative counts."""
    moco, training = pretrain(bench, name, config, items, steps=steps, consistency=consistency)
    metrics = {**evaluate(bench, moco), **moco.false_negative_stats()}
    return MoCoRun(name, moco, training, metrics)
