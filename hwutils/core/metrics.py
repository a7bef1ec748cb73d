"""Classification metrics, computed with scikit-learn (``evaluate`` would need the Hub)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    return float(skm.accuracy_score(y_true, y_pred))


def macro_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    return float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def top_k_accuracy(y_true: Sequence[int], scores: np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the ``k`` highest ``scores`` (n_samples x n_classes)."""
    scores = np.asarray(scores)
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([t in row for t, row in zip(y_true, top)]))


def per_class_report(y_true: Sequence, y_pred: Sequence, labels: Sequence, names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per class: precision, recall, F1, support, and accuracy (the class's recall).

    ``labels`` fixes the classes and their order, so a class never predicted still gets a row.
    """
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=list(labels), zero_division=0
    )
    return pd.DataFrame(
        {
            "class": list(names) if names is not None else list(labels),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    )


def confusion(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> np.ndarray:
    """Confusion matrix with rows = true class, columns = predicted class, in ``labels`` order."""
    return skm.confusion_matrix(y_true, y_pred, labels=list(labels))


def classification_summary(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> dict[str, float]:
    """The two numbers every results table shows: accuracy and macro-F1."""
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, labels)}


# Reading a confusion matrix (rows = true class, columns = predicted class)


def most_confused_pairs(matrix: np.ndarray, names: Sequence[str], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` largest off-diagonal cells of a confusion matrix (rows = true class), largest first."""
    matrix = np.asarray(matrix)
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")[:n]
    rows = []
    for flat in order:
        true, predicted = np.unravel_index(flat, matrix.shape)
        count = int(off_diagonal[true, predicted])
        if count == 0:
            break
        rows.append({"true": names[true], "predicted as": names[predicted], "count": count,
                     "share of the true class": count / max(int(matrix[true].sum()), 1)})
    return rows


def most_confused_classes(matrix: np.ndarray, k: int = 10) -> list[int]:
    """Indices of the ``k`` classes most involved in errors (missed as or mistaken for another class)."""
    off_diagonal = np.asarray(matrix).copy()
    np.fill_diagonal(off_diagonal, 0)
    involvement = off_diagonal.sum(axis=0) + off_diagonal.sum(axis=1)
    return np.argsort(-involvement, kind="stable")[:k].tolist()


def confusions_of(matrix: np.ndarray, index: int, names: Sequence[str], k: int = 3) -> list[dict[str, Any]]:
    """The ``k`` classes that images of class ``index`` are most often mistaken for (row of the confusion matrix)."""
    row = np.asarray(matrix)[index].astype(float)
    total = row.sum()
    others = [j for j in np.argsort(-row, kind="stable") if j != index and row[j] > 0][:k]
    return [{"predicted as": names[j], "images": int(row[j]), "share of the class": row[j] / total if total else 0.0}
            for j in others]


def confused_into(matrix: np.ndarray, index: int, names: Sequence[str], k: int = 3) -> list[dict[str, Any]]:
    """The ``k`` classes whose images are most often predicted as class ``index`` (column of the confusion matrix)."""
    column = np.asarray(matrix)[:, index].astype(float)
    predicted = column.sum()
    others = [j for j in np.argsort(-column, kind="stable") if j != index and column[j] > 0][:k]
    return [{"true class": names[j], "images": int(column[j]), "share of the predictions": column[j] / predicted if predicted else 0.0}
            for j in others]
