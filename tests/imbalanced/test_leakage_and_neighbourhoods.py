"""The leakage experiment's oversample-then-split, and the neighbourhood measures behind it."""

from __future__ import annotations

import numpy as np
import pytest

from hwutils.imbalanced.data import Standardised
from hwutils.imbalanced.leakage import oversample_before_split
from hwutils.imbalanced.neighbourhoods import legit_neighbour_share, nearest_fraud_split, placement_summary


def splits_with_test_frauds_apart() -> Standardised:
    """Legitimate rows around the origin; training and validation frauds near (5, 5), test frauds near (-5, 5)."""
    rng = np.random.default_rng(0)

    def part(n_legit, n_fraud, centre):
        x = np.vstack([rng.normal(0, 1, (n_legit, 2)), rng.normal(centre, 0.3, (n_fraud, 2))]).astype(np.float32)
        return x, np.array([0] * n_legit + [1] * n_fraud)

    parts = {"train": part(600, 12, (5, 5)), "validation": part(200, 3, (5, 5)), "test": part(200, 5, (-5, 5))}
    return Standardised({k: v[0] for k, v in parts.items()}, {k: v[1] for k, v in parts.items()}, np.zeros(2), np.ones(2))


def test_real_rows_keep_their_split_and_synthetic_frauds_spread_over_all_three():
    data = splits_with_test_frauds_apart()
    leaky = oversample_before_split(data, "smote", ratio=1.0, neighbors=3, seed=0)
    for name in ("train", "validation", "test"):
        real = ~leaky.synthetic[name]
        assert np.array_equal(leaky.x[name][real], data.x[name]) and np.array_equal(leaky.y[name][real], data.y[name])
        assert (leaky.y[name][leaky.synthetic[name]] == 1).all() and leaky.synthetic[name].sum() > 0
    synthetic = {name: int(leaky.synthetic[name].sum()) for name in ("train", "validation", "test")}
    assert synthetic["train"] > synthetic["validation"] and synthetic["train"] > synthetic["test"]
    assert np.array_equal(leaky.train.x, leaky.x["train"]) and leaky.train.synthetic == synthetic["train"]
    assert [row["synthetic frauds"] for row in leaky.counts()] == list(synthetic.values())


def test_the_share_of_training_frauds_made_from_test_frauds_is_counted():
    data = splits_with_test_frauds_apart()
    leaky = oversample_before_split(data, "smote", ratio=1.0, neighbors=3, seed=0)
    synthetic_train = leaky.x["train"][leaky.synthetic["train"]]
    near_test_cluster = np.mean(synthetic_train[:, 0] < 0)  # test frauds sit at x < 0, all other frauds at x > 0
    assert leaky.made_from_test == pytest.approx(near_test_cluster) and leaky.made_from_test > 0.05


def test_legit_neighbour_share_and_nearest_fraud_split():
    x_real = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    y_real = np.array([0, 0, 1, 1, 0])
    shares = legit_neighbour_share(np.array([[0.4], [10.4]]), x_real, y_real, k=3)
    assert shares.tolist() == pytest.approx([2 / 3, 1 / 3])
    splits = nearest_fraud_split(np.array([[1.8], [9.0]]), np.array([[2.0], [10.0]]), np.array(["train", "test"]))
    assert splits.tolist() == ["train", "test"]
    assert placement_summary(np.array([0.2, 0.6, 0.9])) == pytest.approx(
        {"mean legit-neighbour share": 17 / 30, "in legit territory (> half legit)": 2 / 3})
