"""The tables and figures of notebook 02 that are more than one call: the splits of an NLI dataset,
and one panel per method for learning curves and confusion matrices."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from hwutils.core import plots


def label_shares(split, labels: Sequence[str]) -> np.ndarray:
    """The share of each label (by index) among the rows of ``split``."""
    return np.bincount(split["label"], minlength=len(labels)) / len(split)


def split_overview(splits: Mapping[str, Any], labels: Sequence[str]) -> list[dict[str, Any]]:
    """Per split: its pairs, the share of each label, and its genres."""
    return [{"split": name, "pairs": len(split),
             **{f"{label} share": share for label, share in zip(labels, label_shares(split, labels))},
             "genres": ", ".join(sorted(set(split["genre"])))} for name, split in splits.items()]


def one_pair_per_label(split, labels: Sequence[str]) -> list[dict[str, Any]]:
    """The first pair of each label in ``split``."""
    rows = [next(row for row in split if row["label"] == index) for index in range(len(labels))]
    return [{"premise": r["premise"], "hypothesis": r["hypothesis"], "label": labels[r["label"]], "genre": r["genre"]}
            for r in rows]


def plot_splits(splits: Mapping[str, Any], labels: Sequence[str]):
    """Grouped bars: the label balance and the genre mix of every split."""
    fig, (ax_labels, ax_genres) = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 2]})
    width = 0.8 / len(splits)
    genres = sorted({genre for split in splits.values() for genre in split["genre"]})
    for i, (name, split) in enumerate(splits.items()):
        ax_labels.bar(np.arange(len(labels)) + i * width, label_shares(split, labels), width, label=name)
        counts = Counter(split["genre"])
        ax_genres.bar(np.arange(len(genres)) + i * width, [counts[g] / len(split) for g in genres], width, label=name)
    top = max(label_shares(split, labels).max() for split in splits.values())
    ax_labels.set(xticks=np.arange(len(labels)) + width, xticklabels=labels, ylabel="share of pairs", title="Label balance",
                  ylim=(0, 1.5 * top))
    ax_labels.legend(fontsize=8, loc="upper center")
    ax_genres.set(xticks=np.arange(len(genres)) + width, ylabel="share of pairs", title="Genres")
    ax_genres.set_xticklabels(genres, rotation=30, ha="right")
    fig.tight_layout()
    return fig


def plot_learning_curves(results: Mapping[str, Any], titles: Mapping[str, str], chance: float):
    """One panel per method: training loss per step and held-out accuracy, with chance marked."""
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), sharey=True, squeeze=False)
    for ax, (key, result) in zip(axes[0], results.items()):
        plots.learning_curves(result.training.losses, result.training.evals, smooth=max(2, result.steps // 20),
                              title=titles[key], ax=ax)
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel("loss / accuracy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_confusions(matrices: Mapping[str, np.ndarray], labels: Sequence[str], titles: Mapping[str, str]):
    """One row-normalised confusion matrix per method."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.3 * len(matrices), 3.8), squeeze=False)
    for ax, (key, matrix) in zip(axes[0], matrices.items()):
        plots.confusion_matrix(matrix, labels, title=titles[key], ax=ax)
        ax.tick_params(axis="y", labelrotation=0)
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig
