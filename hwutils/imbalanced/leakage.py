"""The leakage experiment: oversampling the whole dataset *before* splitting it.

:func:`oversample_before_split` does what the course report says the original paper did: run the
oversampler on every row (train, validation and test together), then split. Real rows keep the
split they have in the honest set-up, and each synthetic row goes to train, validation or test at
random, in the same proportions: exactly what a random split of the oversampled data would do.
Two things go wrong at once:

* the training split holds synthetic frauds interpolated from *test* frauds, so the model is
  trained on near-copies of the frauds it is then tested on;
* the test split holds synthetic frauds interpolated from *training* frauds, which the model
  finds easy, and so many of them that the test fraud rate no longer resembles real traffic.

Comparing with the honest set-up (the same oversampler on the training split only, scored on the
untouched real test rows) shows how much the reported metrics are inflated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwutils.imbalanced.data import SPLITS, Standardised
from hwutils.imbalanced.neighbourhoods import nearest_fraud_split
from hwutils.imbalanced.resampling import Rebalanced, rebalance


@dataclass(frozen=True)
class LeakySplits:
    """The three splits after oversampling everything, and where the synthetic frauds went."""

    train: Rebalanced  # real training rows + the synthetic rows that fell into train
    x: dict[str, np.ndarray]  # validation and test: real rows first, then their synthetic rows
    y: dict[str, np.ndarray]
    synthetic: dict[str, np.ndarray]  # per split, True for the synthetic rows
    made_from_test: float  # share of synthetic training frauds whose closest real fraud is a test fraud

    def counts(self) -> list[dict[str, float]]:
        return [{"split": name, "rows": len(self.y[name]), "frauds": int(self.y[name].sum()),
                 "synthetic frauds": int(self.synthetic[name].sum()),
                 "fraud share": float(self.y[name].mean())} for name in SPLITS]


def oversample_before_split(data: Standardised, method: str, *, ratio: float, neighbors: int,
                            seed: int) -> LeakySplits:
    """Oversample train + validation + test together with ``method``, then split (see the module docstring)."""
    x_all = np.concatenate([data.x[name] for name in SPLITS])
    y_all = np.concatenate([data.y[name] for name in SPLITS])
    origin = np.concatenate([np.full(len(data.y[name]), name) for name in SPLITS])
    oversampled = rebalance(method, x_all, y_all, undersampling_ratio=1.0, oversampling_ratio=ratio,
                            neighbors=neighbors, seed=seed)
    synthetic_x = oversampled.synthetic_x
    real_share = np.array([len(data.y[name]) for name in SPLITS]) / len(y_all)
    destination = np.random.default_rng(seed).choice(np.array(SPLITS), size=len(synthetic_x), p=real_share)
    x, y, synthetic = {}, {}, {}
    for name in SPLITS:
        extra = synthetic_x[destination == name]
        x[name] = np.concatenate([data.x[name], extra]).astype(np.float32)
        y[name] = np.concatenate([data.y[name], np.ones(len(extra), dtype=data.y[name].dtype)])
        synthetic[name] = np.concatenate([np.zeros(len(data.y[name]), bool), np.ones(len(extra), bool)])
    frauds = y_all == 1
    closest = nearest_fraud_split(synthetic_x[destination == "train"], x_all[frauds], origin[frauds])
    made_from_test = float(np.mean(closest == "test")) if len(closest) else 0.0
    train = Rebalanced(x["train"], y["train"], 1.0, int(synthetic["train"].sum()))
    return LeakySplits(train, x, y, synthetic, made_from_test)
