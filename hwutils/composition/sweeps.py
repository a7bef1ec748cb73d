"""λ sweeps: score a composed module at each weight, choose a weight, and plot the curve.

The paper's compositions have one weight λ, chosen by hand on held-out data. A sweep evaluates
the composed module at every λ of a grid; :func:`choose` picks λ on the *validation* column only
and reports the test score there, so the choice never sees the test set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hwutils.core.progress import progress

Row = dict[str, Any]


def grid(step: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """``low, low + step, ..., high`` rounded to avoid floating-point drift (0.30000000000000004)."""
    count = int(round((high - low) / step))
    return [round(low + i * step, 6) for i in range(count + 1)]


def sweep(lambdas: Sequence[float], score: Callable[[float], Mapping[str, float]], desc: str = "λ sweep") -> list[Row]:
    """``[{"lambda": λ, **score(λ)} for λ in lambdas]`` with a progress bar."""
    return [{"lambda": lam, **score(lam)} for lam in progress(lambdas, desc=desc)]


def choose(rows: Sequence[Row], validation_key: str, *, interior: bool = False, maximize: bool = True) -> Row:
    """The row with the best ``validation_key`` (ties: the first); ``interior`` excludes the two ends of the grid."""
    candidates = list(rows[1:-1] if interior else rows)
    values = np.array([r[validation_key] for r in candidates], dtype=float)
    return candidates[int(np.argmax(values) if maximize else np.argmin(values))]


def interior_versus_endpoints(rows: Sequence[Row], key: str) -> dict[str, float]:
    """The best ``key`` strictly inside the grid against the better of its two ends (λ = 0 and λ = 1)."""
    best_inside = choose(rows, key, interior=True)
    return {"best_interior_lambda": best_inside["lambda"], "best_interior": float(best_inside[key]),
            "best_endpoint": float(max(rows[0][key], rows[-1][key])),
            "margin": float(best_inside[key] - max(rows[0][key], rows[-1][key]))}


def mean_of(row: Row, keys: Sequence[str]) -> float:
    return float(np.mean([row[k] for k in keys]))


def plot_curves(rows: Sequence[Row], keys: Sequence[str], *, references: Mapping[str, float] | None = None,
                xlabel: str = "λ", ylabel: str = "accuracy", title: str = "", ax=None, chosen: float | None = None):
    """One line per ``key`` against λ, dashed horizontal lines for ``references`` (e.g. single modules),
    and a dotted vertical line at the ``chosen`` λ."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.5, 4))[1]
    lambdas = [r["lambda"] for r in rows]
    for i, key in enumerate(keys):
        ax.plot(lambdas, [r[key] for r in rows], marker="o", color=f"C{i}", label=key.replace("_", " "))
    for j, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle="--", linewidth=1, color=f"C{len(keys) + j}", label=name)
    if chosen is not None:
        ax.axvline(chosen, linestyle=":", color="grey", label=f"chosen λ = {chosen:g}")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def with_perplexity_increase(rows: Sequence[Row], base_perplexity: float) -> list[Row]:
    """``rows`` with ``perplexity_increase``: the relative rise of ``neutral_perplexity`` over the base's."""
    return [{**r, "perplexity_increase": r["neutral_perplexity"] / base_perplexity - 1} for r in rows]


def choose_negation(rows: Sequence[Row], max_increase: float) -> Row | None:
    """Among negations (rows with ``perplexity_increase``), the one with the lowest ``attribute_rate``
    whose neutral perplexity rose by at most ``max_increase`` (ties: the weaker negation); None if none did."""
    allowed = [r for r in rows if r["perplexity_increase"] <= max_increase]
    return min(allowed, key=lambda r: (r["attribute_rate"], r["lambda"])) if allowed else None
