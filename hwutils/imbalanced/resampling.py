"""Rebalancing the training split: the methods compared, all from ``imbalanced-learn`` or the loss.

* ``no_rebalancing``: the training split as it is;
* ``class_weighted``: the data as it is, each fraud's loss weighted by (legitimate / fraud) rows;
* ``random_undersampling``: legitimate rows dropped at random (``RandomUnderSampler``);
* ``smote``: synthetic frauds on the segments between a fraud and one of its nearest frauds (``SMOTE``);
* ``adasyn``: the same interpolation, with more synthetic points for frauds that have many
  legitimate neighbours (``ADASYN``).

Resampling is applied to whatever rows it is given; the notebook gives it the training split only
(and, in the leakage experiment, deliberately everything).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwutils.core.errors import ConfigError

METHODS = ("no_rebalancing", "class_weighted", "random_undersampling", "smote", "adasyn")
RESAMPLERS = ("random_undersampling", "smote", "adasyn")


@dataclass(frozen=True)
class Rebalanced:
    """A training set after rebalancing: the rows, their labels, the loss's fraud weight, and how
    many rows were synthesised (they come after the ``len(x) - synthetic`` original rows)."""

    x: np.ndarray
    y: np.ndarray
    pos_weight: float
    synthetic: int

    @property
    def synthetic_x(self) -> np.ndarray:
        return self.x[len(self.x) - self.synthetic:]

    def summary(self, method: str) -> dict[str, float]:
        return {"method": method, "rows": len(self.y), "frauds": int(self.y.sum()), "synthetic frauds": self.synthetic,
                "fraud share": float(self.y.mean()), "fraud loss weight": self.pos_weight}


def make_resampler(method: str, ratio: float, neighbors: int, seed: int):
    """The ``imbalanced-learn`` sampler of ``method``; ``ratio`` is the frauds-to-legitimate ratio it
    aims at (1.0: as many frauds as legitimate rows), ``neighbors`` SMOTE's and ADASYN's k."""
    from imblearn.over_sampling import ADASYN, SMOTE
    from imblearn.under_sampling import RandomUnderSampler

    if method == "random_undersampling":
        return RandomUnderSampler(sampling_strategy=ratio, random_state=seed)
    if method == "smote":
        return SMOTE(sampling_strategy=ratio, k_neighbors=neighbors, random_state=seed)
    if method == "adasyn":
        return ADASYN(sampling_strategy=ratio, n_neighbors=neighbors, random_state=seed)
    raise ConfigError(f"unknown resampler {method!r}; valid resamplers: {', '.join(RESAMPLERS)}")


def rebalance(method: str, x: np.ndarray, y: np.ndarray, *, undersampling_ratio: float, oversampling_ratio: float,
              neighbors: int, seed: int) -> Rebalanced:
    """The training set ``method`` trains on (see the module docstring)."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    if method == "no_rebalancing":
        return Rebalanced(x, y, 1.0, 0)
    if method == "class_weighted":
        return Rebalanced(x, y, positive_weight(y), 0)
    ratio = undersampling_ratio if method == "random_undersampling" else oversampling_ratio
    x_new, y_new = make_resampler(method, ratio, neighbors, seed).fit_resample(x, y)
    synthetic = len(y_new) - len(y) if method != "random_undersampling" else 0
    # imbalanced-learn keeps the original rows first and appends the synthetic ones
    return Rebalanced(np.asarray(x_new, dtype=np.float32), np.asarray(y_new), 1.0, max(synthetic, 0))


def positive_weight(y: np.ndarray) -> float:
    """Legitimate rows per fraud: with this weight on each fraud's loss, both classes weigh the same."""
    frauds = int(np.sum(y))
    if frauds == 0:
        raise ConfigError("the training rows hold no fraud: nothing to weight")
    return (len(y) - frauds) / frauds
