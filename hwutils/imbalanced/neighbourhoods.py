"""Where synthetic frauds lie, measured by their nearest real transactions.

* :func:`legit_neighbour_share`: among a point's ``k`` nearest real training rows, the share that
  are legitimate. Near 0: deep inside a cluster of frauds; near 1: in legitimate territory, where a
  synthetic "fraud" is more likely noise than signal. ADASYN's point is to put more synthetic
  frauds where this share is high; SMOTE ignores the legitimate rows altogether.
* :func:`nearest_fraud_split`: which split the closest real fraud of each synthetic point belongs to.
  A SMOTE or ADASYN point lies on a segment between two real frauds, so its closest real fraud is
  (almost always) one of the two it was made from: this is how the leakage experiment counts
  synthetic training points made from test frauds.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def legit_neighbour_share(points: np.ndarray, x_real: np.ndarray, y_real: np.ndarray, k: int) -> np.ndarray:
    """For each row of ``points``, the share of legitimate rows (``y_real == 0``) among its ``k``
    nearest rows of ``x_real``.

    A real fraud of ``x_real`` counts itself among its neighbours, just as a synthetic fraud's
    nearest real row is usually the fraud it was made from; so the shares of real and synthetic
    frauds are comparable (and both at most ``(k - 1) / k`` in practice).
    """
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x_real)
    neighbours = index.kneighbors(points, return_distance=False)
    return (np.asarray(y_real)[neighbours] == 0).mean(axis=1)


def nearest_fraud_split(points: np.ndarray, fraud_x: np.ndarray, fraud_split: np.ndarray) -> np.ndarray:
    """For each row of ``points``, the split label (``fraud_split``) of the closest row of ``fraud_x``."""
    index = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(fraud_x)
    closest = index.kneighbors(points, return_distance=False)[:, 0]
    return np.asarray(fraud_split)[closest]


def placement_summary(shares: np.ndarray) -> dict[str, float]:
    """Mean legitimate-neighbour share, and the share of points whose neighbours are mostly legitimate."""
    return {"mean legit-neighbour share": float(np.mean(shares)) if len(shares) else float("nan"),
            "in legit territory (> half legit)": float(np.mean(shares > 0.5)) if len(shares) else float("nan")}
