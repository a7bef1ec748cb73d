"""Rebalancing: each method returns the training set it should, from imbalanced-learn."""

from __future__ import annotations

import numpy as np
import pytest

from hwutils.core.errors import ConfigError
from hwutils.imbalanced import resampling
from hwutils.imbalanced.neighbourhoods import legit_neighbour_share


@pytest.fixture
def toy():
    """400 legitimate rows around the origin; 20 frauds: 10 in a cluster of their own, 10 among the legitimate rows."""
    rng = np.random.default_rng(0)
    legit = rng.normal(0, 1, size=(400, 2))
    isolated = rng.normal(6, 0.3, size=(10, 2))
    hidden = rng.normal(0, 1, size=(10, 2))
    x = np.vstack([legit, isolated, hidden]).astype(np.float32)
    y = np.array([0] * 400 + [1] * 20)
    return x, y


def rebalance(method, x, y, ratio=1.0):
    return resampling.rebalance(method, x, y, undersampling_ratio=ratio, oversampling_ratio=ratio, neighbors=3, seed=0)


def test_no_rebalancing_and_class_weights_keep_the_rows(toy):
    x, y = toy
    plain, weighted = rebalance("no_rebalancing", x, y), rebalance("class_weighted", x, y)
    assert plain.x is x and weighted.x is x and plain.pos_weight == 1.0
    assert weighted.pos_weight == 400 / 20


def test_random_undersampling_keeps_every_fraud_and_drops_legitimate_rows(toy):
    x, y = toy
    under = rebalance("random_undersampling", x, y, ratio=0.5)
    assert under.y.sum() == 20 and (under.y == 0).sum() == 40 and under.synthetic == 0
    original = {tuple(row) for row in x}
    assert all(tuple(row) in original for row in under.x)  # nothing made up


@pytest.mark.parametrize("method", ["smote", "adasyn"])
def test_oversamplers_append_synthetic_frauds_after_the_original_rows(toy, method):
    x, y = toy
    over = rebalance(method, x, y)
    assert np.array_equal(over.x[:len(x)], x) and np.array_equal(over.y[:len(y)], y)
    assert over.synthetic == len(over.y) - len(y) > 300
    assert (over.y[len(y):] == 1).all()
    assert abs(over.y.mean() - 0.5) < 0.02


def test_smote_points_lie_on_segments_between_two_real_frauds(toy):
    x, y = toy
    frauds = x[y == 1].astype(np.float64)
    synthetic = rebalance("smote", x, y).synthetic_x.astype(np.float64)
    a, b = frauds[:, None, :], frauds[None, :, :]  # every pair of frauds
    for point in synthetic[:50]:
        t = np.clip(((point - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-12), 0, 1)
        distance = np.linalg.norm(a + t[..., None] * (b - a) - point, axis=-1)
        assert distance.min() < 1e-4


def test_adasyn_puts_more_synthetic_frauds_among_legitimate_rows_than_smote(toy):
    x, y = toy
    shares = {method: legit_neighbour_share(rebalance(method, x, y).synthetic_x, x, y, k=5).mean()
              for method in ("smote", "adasyn")}
    assert shares["adasyn"] > shares["smote"] + 0.1, shares


def test_unknown_method_and_no_fraud_fail_with_one_clear_line(toy):
    x, y = toy
    with pytest.raises(ConfigError, match="unknown method 'focal'"):
        rebalance("focal", x, y)
    with pytest.raises(ConfigError, match="no fraud"):
        resampling.positive_weight(np.zeros(5))
