"""The project's three kinds of figure: learning curves, confusion matrices, cost vs accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def learning_curves(
    losses: Sequence[Mapping[str, float]],
    evals: Sequence[Mapping[str, float]] = (),
    metrics: Sequence[str] | None = None,
    smooth: int = 0,
    title: str = "Learning curves",
    ax=None,
):
    """Training loss per step (optionally a moving average over ``smooth`` steps) and the
    evaluation ``metrics`` at the steps where they were measured."""
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    steps = np.array([r["step"] for r in losses])
    values = np.array([r["loss"] for r in losses])
    if len(values):
        ax.plot(steps, values, alpha=0.35 if smooth else 1.0, label="train loss (per step)")
        if smooth and len(values) >= smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(steps[smooth - 1 :], np.convolve(values, kernel, mode="valid"), label=f"train loss ({smooth}-step mean)")
    metric_names = metrics or sorted({k for r in evals for k in r if k != "step"})
    for name in metric_names:
        points = [(r["step"], r[name]) for r in evals if name in r]
        if points:
            ax.plot(*zip(*points), marker="o", label=name)
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def confusion_matrix(matrix: np.ndarray, names: Sequence[str], title: str = "Confusion matrix", normalize: bool = True, ax=None):
    """Heat map of a confusion matrix (rows: true class); rows normalised to shares by default."""
    import seaborn as sns

    matrix = np.asarray(matrix, dtype=float)
    if normalize:
        matrix = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    size = max(3.5, 0.45 * len(names) + 2)
    ax = ax or plt.subplots(figsize=(size + 1, size))[1]
    sns.heatmap(matrix, annot=len(names) <= 12, fmt=".2f" if normalize else ".0f", cmap="Blues",
                xticklabels=names, yticklabels=names, vmin=0, vmax=1 if normalize else None, ax=ax)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return ax


def accuracy_vs_parameters(rows: Sequence[Mapping], x: str = "trainable_parameters", y: str = "accuracy",
                           label: str = "method", chance: float | None = None, title: str = "Accuracy vs trainable parameters", ax=None):
    """Scatter of ``y`` against ``x`` (log scale), one labelled point per row (e.g. per method)."""
    ax = ax or plt.subplots(figsize=(7, 4.5))[1]
    for row in rows:
        ax.scatter(row[x], row[y], s=40)
        ax.annotate(str(row[label]), (row[x], row[y]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({chance:.3g})")
        ax.legend()
    ax.set_xscale("log")
    ax.set(xlabel=x.replace("_", " ") + " (log scale)", ylabel=y.replace("_", " "), title=title)
    ax.grid(alpha=0.3, which="both")
    return ax


def image_grid(images: Sequence, titles: Sequence[str], columns: int = 6, size: float = 1.8, title: str = ""):
    """Images (PIL or arrays) in a grid, each with its title (e.g. its label)."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * (size + 0.3)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, titles):
        ax.imshow(image)
        ax.set_title(str(text), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
