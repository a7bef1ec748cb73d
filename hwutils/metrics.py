"""Classification metrics, computed with scikit-learn (``evaluate`` would need the Hub)."""

from __future__ import annotations

from collections.abc import Sequence

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
