"""The smoke fixture: the Kaggle file's format, a fraud rate near 0.2%, and a signal that only a
model combining the columns can find."""

from __future__ import annotations

import numpy as np
import pytest

from hwutils.core.fixtures import fixture_path
from hwutils.imbalanced import fixtures
from hwutils.imbalanced.data import FEATURES, LABEL, load_transactions


@pytest.fixture(scope="module")
def folder():
    return fixture_path("card_transactions")


def test_the_file_is_written_as_the_kaggle_file_is(folder):
    header, first = (folder / "creditcard.csv").read_text().splitlines()[:2]
    assert header == ",".join(f'"{name}"' for name in [*FEATURES, LABEL])
    assert first.endswith(('"0"', '"1"')) and first.count(",") == 30


def test_datasets_reads_it_with_a_fraud_rate_near_the_real_one(folder):
    frame = load_transactions(str(folder))
    assert list(frame.columns) == [*FEATURES, LABEL]
    assert 0.0015 <= frame[LABEL].mean() <= 0.0025
    assert frame["Time"].is_monotonic_increasing and frame["Amount"].min() >= 0


@pytest.mark.slow
def test_no_single_column_finds_the_frauds_but_all_columns_together_do(folder):
    measured = fixtures.difficulty(folder)
    assert measured["best_single_column_average_precision"] < 0.15, measured
    assert measured["logistic_regression_average_precision"] > 0.45, measured
    # the camouflaged frauds are label noise: no model ranks every fraud above every legitimate row
    assert measured["logistic_regression_roc_auc"] < 0.97, measured


def test_generation_is_deterministic_and_seeded():
    first, again, other = fixtures.transactions(5000, seed=3), fixtures.transactions(5000, seed=3), fixtures.transactions(5000, seed=4)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["V1"], other["V1"])
    assert first["Class"].sum() == round(5000 * fixtures.FRAUD_RATE)
