"""Figures and tables that put the notebook's methods side by side, and the GPU estimate.

Everything here reads what the run recorded (``run.document["methods"]``) or the settings, so the
comparison shows exactly what ``results.json`` holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from hwutils.core import metrics, plots
from hwutils.core.data.mnli import LABELS


def comparison_rows(methods: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per recorded method: accuracy, macro-F1, trainable parameters, and the cost of its
    training, or, for a method that trains nothing (a prompt, a merge), of scoring the test set.
    ``final_training_loss`` (recorded by the trained methods) is the last logged training loss."""
    rows = []
    for key, record in methods.items():
        trained = "train" in record
        cost = record["train"] if trained else record.get("scoring", {})
        rows.append({"method": key, "accuracy": record["metrics"]["accuracy"], "macro_f1": record["metrics"]["macro_f1"],
                     "trainable parameters": record.get("trainable_parameters", 0),
                     "final training loss": record.get("final_training_loss", float("nan")),
                     "time (s)": cost.get("wall_time_s", float("nan")), "time of": "training" if trained else "scoring",
                     "peak memory (MB)": cost.get("peak_memory_mb", float("nan"))})
    return rows


def accuracy_bars(rows: Sequence[Mapping[str, Any]], chance: float, title: str = "MultiNLI accuracy by method"):
    """Horizontal bars of each row's accuracy (first row on top) against a dashed chance line."""
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(rows) + 1))
    ax.barh([r["method"] for r in rows][::-1], [r["accuracy"] for r in rows][::-1], color="C0")
    ax.axvline(chance, color="grey", linestyle="--", label=f"chance ({chance:.2f})")
    ax.set(xlabel="accuracy", xlim=(0, 1), title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def training_figure(losses: Sequence[Mapping[str, float]], loss_title: str, y_true: Sequence[int],
                    predictions: Mapping[str, Sequence[int]]):
    """The learning curve of a training run, then a confusion matrix per ``{title: predictions}``."""
    fig, axes = plt.subplots(1, 1 + len(predictions), figsize=(5 * (1 + len(predictions)), 3.8))
    plots.learning_curves(losses, title=loss_title, ax=axes[0])
    for ax, (title, predicted) in zip(axes[1:], predictions.items()):
        accuracy = metrics.accuracy(y_true, predicted)
        plots.confusion_matrix(metrics.confusion(y_true, predicted, range(len(LABELS))), LABELS,
                               title=f"{title}, accuracy {accuracy:.3f}", ax=ax)
    fig.tight_layout()
    return fig


def gpu_estimate(full: Mapping[str, Any], labels: int = len(LABELS)) -> dict[str, float]:
    """Tokens and minutes of a full-profile run on one GPU, from the ``full`` settings' assumed speeds.

    Scoring reads every prompt (its demonstrations included) once per label; the two QLoRA
    trainings (SFT and the head) read the training set ``qlora_sft_epochs`` and ``head_epochs`` times; generation, merging,
    probes and loading are allowed half as much again.
    """
    examples_per_prompt = sum(1 + shots for shots in full["prompt_shots"]) * len(full["prompt_styles"])
    estimate = {
        "icl_scoring_tokens": full["test_examples"] * examples_per_prompt * full["full_tokens_per_example"] * labels,
        "training_tokens": full["train_examples"] * (full["qlora_sft_epochs"] + full["head_epochs"]) * full["full_tokens_per_example"],
    }
    estimate["icl_minutes"] = estimate["icl_scoring_tokens"] / full["gpu_inference_tokens_per_s"] / 60
    estimate["training_minutes"] = estimate["training_tokens"] / full["gpu_train_tokens_per_s"] / 60
    estimate["total_minutes"] = 1.5 * (estimate["icl_minutes"] + estimate["training_minutes"])
    return estimate
