"""The notebook's figures: per-class distributions, precision-recall curves, validation curves,
confusion matrices, and where synthetic frauds lie."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hwutils.core import plots
from hwutils.imbalanced.data import CLASS_NAMES, LABEL


def class_distributions(frame: pd.DataFrame, bins: int = 48):
    """Amount (log scale) and hour of the transaction, one histogram per class, each bar the share
    of that class's transactions: the shapes are comparable although frauds are far rarer."""
    fig, (amount_ax, time_ax) = plt.subplots(1, 2, figsize=(12, 3.6))
    amount_bins = np.logspace(-2, np.log10(max(frame["Amount"].max(), 1.0) + 1), bins)
    hour_bins = np.linspace(0, frame["Time"].max() / 3600, bins)
    for label, colour in ((0, "C0"), (1, "C3")):
        rows = frame[frame[LABEL] == label]
        share = np.full(len(rows), 1 / max(len(rows), 1))
        name = f"{CLASS_NAMES[label]} ({len(rows):,})"
        amount_ax.hist(rows["Amount"] + 0.01, bins=amount_bins, weights=share, alpha=0.55, color=colour, label=name)
        time_ax.hist(rows["Time"] / 3600, bins=hour_bins, weights=share, alpha=0.55, color=colour, label=name)
    amount_ax.set(xscale="log", xlabel="amount (+0.01, log scale)", ylabel="share of the class", title="Amount per class")
    time_ax.set(xlabel="hours since the first transaction", ylabel="share of the class", title="Time per class")
    for ax in (amount_ax, time_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def precision_recall_curves(curves: Mapping[str, Mapping[str, Sequence[float]]], fraud_rate: float,
                            target_precision: float, title: str = "Precision-recall curves on the test split"):
    """Every method's precision-recall curve on one plot, with the always-"not fraud" level (the
    fraud rate) and the fixed precision at which recall is read."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name, curve in curves.items():
        ax.plot(curve["recall"], curve["precision"], label=name)
    ax.axhline(fraud_rate, color="grey", linestyle=":", label=f"no skill (fraud rate {fraud_rate:.4f})")
    ax.axhline(target_precision, color="black", linestyle="--", linewidth=1, label=f"precision {target_precision:g}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def validation_curves(evals: Mapping[str, Sequence[Mapping[str, float]]], metric: str = "val_average_precision"):
    """``metric`` on the validation split against the training step, one line per method."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for name, records in evals.items():
        ax.plot([r["step"] for r in records], [r[metric] for r in records], marker="o", markersize=3, label=name)
    ax.set(xlabel="optimizer step", ylabel=metric.replace("_", " "), title="Learning on the validation split")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def confusion_grid(matrices: Mapping[str, np.ndarray], columns: int = 3):
    """One confusion matrix (counts) per method, rows = true class."""
    rows = -(-len(matrices) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(matrices):]:
        ax.axis("off")
    for ax, (name, matrix) in zip(axes.flat, matrices.items()):
        plots.confusion_matrix(matrix, CLASS_NAMES, title=name, normalize=False, ax=ax)
    fig.tight_layout()
    return fig


def neighbour_share_histograms(shares: Mapping[str, np.ndarray], k: int):
    """Histograms of the legitimate share among each point's ``k`` nearest real training rows."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    bins = np.linspace(-0.5 / k, 1 + 0.5 / k, k + 2)
    for name, values in shares.items():
        ax.hist(values, bins=bins, density=True, histtype="step", linewidth=2, label=f"{name} ({len(values):,})")
    ax.set(xlabel=f"share of legitimate rows among the {k} nearest real training rows", ylabel="density",
           title="Where the frauds lie: real ones, and those SMOTE and ADASYN synthesise")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
