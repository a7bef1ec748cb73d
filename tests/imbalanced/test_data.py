"""Loading, the stratified split, and standardising on the training split only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwutils.core.errors import DataError
from hwutils.imbalanced.data import (FEATURES, LABEL, describe_classes, load_transactions, standardise,
                                     stratified_split)
from hwutils.imbalanced.fixtures import transactions, write_creditcard_csv


@pytest.fixture
def frame():
    return pd.DataFrame(transactions(3000, fraud_rate=0.01, seed=1))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_is_a_stratified_partition(seed):
    labels = np.array([1] * 10 + [0] * 990)
    rows = stratified_split(labels, test_fraction=0.2, validation_fraction=0.25, seed=seed)
    together = np.concatenate(list(rows.values()))
    assert sorted(together) == list(range(1000))  # every row once
    assert [int(labels[rows[name]].sum()) for name in ("train", "validation", "test")] == [6, 2, 2]
    assert [len(rows[name]) for name in ("train", "validation", "test")] == [600, 200, 200]


def test_split_depends_on_the_seed():
    labels = np.array([1] * 10 + [0] * 990)
    assert not np.array_equal(stratified_split(labels, 0.2, 0.25, 0)["test"], stratified_split(labels, 0.2, 0.25, 1)["test"])


def test_standardising_uses_the_training_rows_only(frame):
    rows = stratified_split(frame[LABEL].to_numpy(), 0.2, 0.25, 0)
    data = standardise(frame, rows)
    assert np.allclose(data.x["train"].mean(axis=0), 0, atol=1e-4)
    assert np.allclose(data.x["train"].std(axis=0), 1, atol=1e-3)
    shifted = frame.copy()
    shifted.loc[rows["test"], FEATURES] += 1000.0  # whatever the test rows hold ...
    again = standardise(shifted, rows)
    assert np.array_equal(again.x["train"], data.x["train"])  # ... training sees the same numbers
    assert np.array_equal(again.mean, data.mean)


def test_amount_is_log_transformed_before_scaling(frame):
    rows = stratified_split(frame[LABEL].to_numpy(), 0.2, 0.25, 0)
    data = standardise(frame, rows)
    amount = np.log1p(frame["Amount"].to_numpy()[rows["train"]])
    column = FEATURES.index("Amount")
    assert np.allclose(data.x["train"][:, column], (amount - amount.mean()) / amount.std(), atol=1e-4)


def test_loader_reads_the_quoted_class_and_names_missing_columns(tmp_path, frame):
    good = tmp_path / "good"
    good.mkdir()
    write_creditcard_csv(good / "creditcard.csv", {name: frame[name].to_numpy() for name in frame})
    loaded = load_transactions(str(good))
    assert loaded[LABEL].dtype.kind == "i" and loaded[LABEL].sum() == frame[LABEL].sum()
    bad = tmp_path / "bad"
    bad.mkdir()
    frame.drop(columns=["V7"]).to_csv(bad / "creditcard.csv", index=False)
    with pytest.raises(DataError, match="no column 'V7'"):
        load_transactions(str(bad))


def test_describe_classes_counts_small_amounts_and_quiet_hours():
    frame = pd.DataFrame({"Time": [3600.0 * h for h in range(24)] * 2 + [0.0, 3600.0],
                          "Amount": [10.0] * 48 + [1.0, 50.0], LABEL: [0] * 48 + [1, 1]})
    frame = pd.concat([frame, pd.DataFrame({"Time": [3600.0 * h for h in range(6, 24)], "Amount": 10.0, LABEL: 0})])
    legit, fraud = describe_classes(frame, quiet_hours=6, small_amount=2.0)
    assert fraud["transactions"] == 2 and fraud["amounts below 2"] == 0.5
    assert fraud["in the 6 quietest hours"] == 1.0  # hours 0 and 1 have the fewest legitimate transactions
    assert legit["in the 6 quietest hours"] == pytest.approx(12 / 66)
