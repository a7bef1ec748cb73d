"""Synthetic card transactions: the smoke profile's stand-in for the Kaggle credit-card fraud data.

``card_transactions`` is one ``creditcard.csv`` with the real file's columns and quoting
(``"Time","V1",...,"V28","Amount","Class"``, the class written ``"0"``/``"1"``), sorted by time,
read by the same ``datasets.load_dataset(folder, split="train")`` call as the Hub copy.

How the rows are drawn (all seeded, so every build is identical):

* **Legitimate** transactions: ``V1..V28`` heavy-tailed (Student t, 5 degrees of freedom) with
  spreads that shrink from V1 to V28, as principal components' do; ``Time`` in seconds over two
  days with few transactions at night; ``Amount`` log-normal (a median of about 22).
* **Frauds** (:data:`FRAUD_RATE` of the rows) follow one of two patterns, each a shift of a few
  standard deviations spread over six features (pattern A on V14, V12, V10, V17, V4, V11; pattern
  B on V3, V7, V2, V16, V18, V9), on top of the same heavy-tailed noise; a share of them
  (:data:`CAMOUFLAGED_SHARE`) carries no shift at all and cannot be told from legitimate ones.
  Frauds happen at any hour and are more often tiny amounts.

Difficulty (:func:`difficulty` measures it; ``tests/imbalanced/test_fixtures.py`` holds it): no
single column separates the classes (the best one reaches an average precision of about 0.05,
against 0.002 for a constant score); a logistic regression on all columns reaches about 0.68 on
the test split of the notebook's split; the camouflaged frauds keep the ROC-AUC of any model
below about 0.9 and its recall at high precision well below 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwutils.core.fixtures import fixture

N_TRANSACTIONS = 100_000
FRAUD_RATE = 0.002
CAMOUFLAGED_SHARE = 0.15  # frauds drawn exactly like legitimate transactions: label noise no model can undo
SECONDS = 172_792  # the Kaggle data spans two days; its last transaction is at 172,792 s
FRAUD_SHIFT = 2.0  # size of the fraud patterns' shifts, in units of each feature's spread
# (feature number, direction) of the two fraud patterns
PATTERN_A = {14: -1.6, 12: -1.3, 10: -1.3, 17: -1.2, 4: 1.2, 11: 1.0}
PATTERN_B = {3: -1.3, 7: -1.2, 2: 1.2, 16: -1.2, 18: -1.0, 9: -1.0}
COLUMNS = ["Time", *[f"V{j}" for j in range(1, 29)], "Amount", "Class"]


def _pca_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of 28 heavy-tailed components whose spread shrinks from V1 to V28."""
    spreads = np.linspace(1.9, 0.35, 28)
    return rng.standard_t(5, size=(n, 28)) * np.sqrt(3 / 5) * spreads  # t(5) has variance 5/3


def _pattern(directions: dict[int, float]) -> np.ndarray:
    spreads = np.linspace(1.9, 0.35, 28)
    shift = np.zeros(28)
    for feature, direction in directions.items():
        shift[feature - 1] = direction * spreads[feature - 1] * FRAUD_SHIFT
    return shift


def _legit_times(n: int, rng: np.random.Generator) -> np.ndarray:
    """Seconds over two days, drawn with few transactions between midnight and 6 am."""
    times = np.empty(0)
    while len(times) < n:
        candidates = rng.uniform(0, SECONDS, size=2 * n)
        hour = (candidates / 3600) % 24
        intensity = np.where(hour < 6, 0.12, 0.12 + 0.88 * np.sin(np.pi * (hour - 6) / 18))
        times = np.concatenate([times, candidates[rng.uniform(size=2 * n) < intensity]])
    return np.floor(times[:n])


def transactions(n: int = N_TRANSACTIONS, fraud_rate: float = FRAUD_RATE, seed: int = 0) -> dict[str, np.ndarray]:
    """The columns of ``n`` synthetic transactions (see the module docstring), sorted by time."""
    rng = np.random.default_rng(seed)
    n_fraud = max(2, round(n * fraud_rate))
    n_legit = n - n_fraud
    features = _pca_like(n, rng)
    pattern = rng.choice(3, size=n_fraud, p=[(1 - CAMOUFLAGED_SHARE) * 0.6, (1 - CAMOUFLAGED_SHARE) * 0.4,
                                             CAMOUFLAGED_SHARE])
    features[n_legit:][pattern == 0] += _pattern(PATTERN_A)
    features[n_legit:][pattern == 1] += _pattern(PATTERN_B)
    time = np.concatenate([_legit_times(n_legit, rng), np.floor(rng.uniform(0, SECONDS, size=n_fraud))])
    legit_amount = rng.lognormal(np.log(22), 1.2, size=n_legit)
    tiny = rng.uniform(size=n_fraud) < 0.4
    fraud_amount = np.where(tiny, rng.uniform(0, 2, size=n_fraud), rng.lognormal(np.log(60), 1.4, size=n_fraud))
    amount = np.round(np.clip(np.concatenate([legit_amount, fraud_amount]), 0, 25_691.16), 2)
    label = np.concatenate([np.zeros(n_legit, dtype=int), np.ones(n_fraud, dtype=int)])
    order = np.argsort(time, kind="stable")
    columns = {"Time": time, **{f"V{j + 1}": features[:, j] for j in range(28)}, "Amount": amount, "Class": label}
    return {name: values[order] for name, values in columns.items()}


def write_creditcard_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write ``columns`` as the Kaggle file is written: every header quoted, the class quoted."""
    with open(path, "w") as f:
        f.write(",".join(f'"{name}"' for name in COLUMNS) + "\n")
        for row in zip(*(columns[name] for name in COLUMNS)):
            time, *components, amount, label = row
            f.write(f"{time:.1f}," + ",".join(f"{v:.6f}" for v in components) + f',{amount:.2f},"{int(label)}"\n')


def difficulty(folder: Path, seed: int = 0) -> dict[str, float]:
    """How far shortcuts get on the fixture, on the notebook's split (60/20/20, stratified):
    the test average precision of the best single column (either sign), and the average precision
    and ROC-AUC of a logistic regression on all columns (standardised on the training rows)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    from hwutils.imbalanced.data import load_transactions, standardise, stratified_split

    frame = load_transactions(str(folder))
    data = standardise(frame, stratified_split(frame["Class"].to_numpy(), 0.2, 0.25, seed))
    x, y = data.x["test"], data.y["test"]
    single = max(max(average_precision_score(y, x[:, j]), average_precision_score(y, -x[:, j])) for j in range(x.shape[1]))
    model = LogisticRegression(max_iter=3000).fit(data.x["train"], data.y["train"])
    scores = model.predict_proba(x)[:, 1]
    return {"fraud_rate": float(y.mean()), "best_single_column_average_precision": float(single),
            "logistic_regression_average_precision": float(average_precision_score(y, scores)),
            "logistic_regression_roc_auc": float(roc_auc_score(y, scores))}


@fixture("card_transactions", version=1)
def build_card_transactions(folder: Path) -> None:
    """100,000 Kaggle-shaped card transactions (0.2% frauds) in ``creditcard.csv``, a noisy learnable signal."""
    write_creditcard_csv(folder / "creditcard.csv", transactions())
