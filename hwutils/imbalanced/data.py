"""The credit-card transactions: loading, a stratified train/validation/test split, standardising.

Every method of the notebook sees the same split, and the standardisation is fitted on the
training split only: the validation and test rows never influence anything a model is trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hwutils.core.data import load_split, require_columns
from hwutils.core.errors import DataError

FEATURES = ["Time", *[f"V{j}" for j in range(1, 29)], "Amount"]
LABEL = "Class"
CLASS_NAMES = ["not fraud", "fraud"]
SPLITS = ("train", "validation", "test")
# The course report's own figures for the Kaggle file (its `value_counts()` of the class column)
REPORT_CLASS_COUNTS = {"not fraud": 284_315, "fraud": 492}
REPORT_SPLIT = {"test_fraction": 0.2, "validation_fraction": 0.25}  # 0.2 of all rows, then 0.25 of the rest


def load_transactions(source: str, split: str = "train") -> pd.DataFrame:
    """The transactions of ``source`` (a Hub id or a folder holding ``creditcard.csv``) as a frame
    with the Kaggle columns: ``Time``, ``V1``..``V28``, ``Amount`` (floats) and ``Class`` (0/1)."""
    dataset = load_split(source, split)
    require_columns(dataset, [*FEATURES, LABEL], source)
    frame = dataset.to_pandas()[[*FEATURES, LABEL]]
    frame[LABEL] = frame[LABEL].astype(str).str.strip('"').astype(int)  # the Kaggle file quotes the class
    if not set(frame[LABEL].unique()) <= {0, 1}:
        raise DataError(f"column {LABEL!r} of {source!r} must hold 0 (not fraud) and 1 (fraud) only")
    if frame[LABEL].sum() < 10:
        raise DataError(f"{source!r} holds {int(frame[LABEL].sum())} frauds: too few to split and evaluate")
    return frame.astype({name: "float64" for name in FEATURES})


def stratified_split(labels: np.ndarray, test_fraction: float, validation_fraction: float,
                     seed: int) -> dict[str, np.ndarray]:
    """Row indices of ``train``, ``validation`` and ``test``, each with the same fraud rate.

    ``test_fraction`` of all rows go to test; then ``validation_fraction`` of the rest go to
    validation (the course report's 0.2 and 0.25 give 60% / 20% / 20%). Frauds and legitimate
    rows are shuffled and cut separately, so a rare class cannot end up missing from a split.
    """
    if not (0 < test_fraction < 1 and 0 < validation_fraction < 1):
        raise DataError(f"test_fraction and validation_fraction must be in (0, 1), got {test_fraction}, "
                        f"{validation_fraction}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = round(test_fraction * len(members))
        n_validation = round(validation_fraction * (len(members) - n_test))
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test:n_test + n_validation])
        parts["train"].append(members[n_test + n_validation:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


@dataclass(frozen=True)
class Standardised:
    """Feature matrices (float32, standardised with the training split's mean and spread) and labels."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    mean: np.ndarray
    scale: np.ndarray

    def counts(self) -> list[dict[str, float]]:
        """Rows, frauds and fraud rate per split (a table)."""
        return [{"split": name, "transactions": len(self.y[name]), "frauds": int(self.y[name].sum()),
                 "fraud rate": float(self.y[name].mean())} for name in SPLITS]


def standardise(frame: pd.DataFrame, indices: dict[str, np.ndarray]) -> Standardised:
    """Each split's features scaled with the mean and standard deviation of the *training* rows.

    ``Amount`` is heavy-tailed, so it is replaced by ``log(1 + Amount)`` first.
    """
    features = frame[FEATURES].to_numpy(dtype=np.float64).copy()
    features[:, FEATURES.index("Amount")] = np.log1p(features[:, FEATURES.index("Amount")])
    labels = frame[LABEL].to_numpy(dtype=np.int64)
    train = features[indices["train"]]
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale[scale == 0] = 1.0
    x = {name: ((features[rows] - mean) / scale).astype(np.float32) for name, rows in indices.items()}
    y = {name: labels[rows] for name, rows in indices.items()}
    return Standardised(x, y, mean, scale)


def describe_classes(frame: pd.DataFrame, quiet_hours: int = 6, small_amount: float = 2.0) -> list[dict[str, float]]:
    """Per class: transactions, median amount, share of amounts below ``small_amount``, and share
    falling in the ``quiet_hours`` hours of the day (counted from the first transaction) that have
    the fewest legitimate transactions."""
    hour = (frame["Time"] // 3600 % 24).astype(int)
    legit_per_hour = hour[frame[LABEL] == 0].value_counts().reindex(range(24), fill_value=0)
    quiet = set(legit_per_hour.sort_values(kind="stable").index[:quiet_hours])
    rows = []
    for label, name in enumerate(CLASS_NAMES):
        members = frame[LABEL] == label
        rows.append({"class": name, "transactions": int(members.sum()),
                     "median amount": float(frame.loc[members, "Amount"].median()),
                     f"amounts below {small_amount:g}": float((frame.loc[members, "Amount"] < small_amount).mean()),
                     f"in the {quiet_hours} quietest hours": float(hour[members].isin(quiet).mean())})
    return rows
