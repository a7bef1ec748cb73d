"""Naming, summarising and predicting the notebook's runs: method keys, curves, expected shares.

Nothing here trains: these helpers turn runs into the rows, curves and reference values that the
notebook's tables and plots show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwutils.core.models import count_parameters
from hwutils.core.training import TrainResult
from hwutils.moco.model import MoCo


def number_key(prefix: str, value: float) -> str:
    """A snake_case method key for a run of one value: ``number_key("momentum", 0.99)`` is
    ``"momentum_0_99"``, ``number_key("queue", 4096)`` is ``"queue_4096"``."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{prefix}_{text.replace('.', '_').replace('-', 'minus_')}"


def loss_curve(training: TrainResult, points: int = 60) -> list[dict[str, float]]:
    """The training loss averaged over ``points`` equal windows of steps (a curve small enough to keep)."""
    steps = np.array([r["step"] for r in training.losses])
    losses = np.array([r["loss"] for r in training.losses])
    windows = np.array_split(np.arange(len(losses)), min(points, len(losses)))
    return [{"step": int(steps[w[-1]]), "loss": float(losses[w].mean())} for w in windows if len(w)]


def mean_of(evals: Sequence[dict[str, float]], name: str) -> float | None:
    """Mean of ``name`` over the evaluations that measured it (``None`` if none did)."""
    values = [e[name] for e in evals if name in e]
    return float(np.mean(values)) if values else None


def parameter_counts(moco: MoCo) -> dict[str, int]:
    """``trainable_parameters`` (the query encoder) and ``total_parameters`` (both encoders)."""
    count = count_parameters(moco)
    return {"trainable_parameters": count.trainable, "total_parameters": count.total}


def expected_share_if_uniform(stored_images: int, copies: int) -> float:
    """The share of a query's queued negatives that are copies of its own original, if the queue
    were a uniform sample of the other stored images: ``copies / (stored_images - 1)``. With 2,000
    originals and 10 copies each (22,000 images) that is 10 / 21,999, about 1 in 2,200."""
    return copies / (stored_images - 1)


def run_row(name: str, metrics: dict[str, float], training: TrainResult, **columns: Any) -> dict[str, Any]:
    """One table row: ``columns`` first, then accuracies, the held-out InfoNCE and the last training loss."""
    last = training.losses[-max(1, len(training.losses) // 10):]
    return {"run": name, **columns, "kNN accuracy": metrics["knn_accuracy"],
            "linear probe": metrics["linear_probe_accuracy"], "held-out InfoNCE": metrics["heldout_infonce"],
            "train loss (last 10%)": float(np.mean([r["loss"] for r in last]))}
