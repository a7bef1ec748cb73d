"""Metrics that fit a rare positive class, and a decision threshold chosen on validation.

Two kinds of metric:

* **ranking metrics** need no threshold: average precision (the area under the precision-recall
  curve, "PR-AUC"), ROC-AUC, and the recall reached at a fixed precision (the best recall of any
  threshold whose precision is at least the target: "how many frauds can we catch if at least
  80% of the alerts must be real frauds?");
* **thresholded metrics** judge the decisions ``score >= threshold``: accuracy, precision,
  recall, F1 and the confusion matrix. The threshold is the one with the best F1 on the
  *validation* split (:func:`best_f1_threshold`), never tuned on the test split, and not 0.5: a
  model trained on rebalanced data believes frauds are far more common than they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm


def best_f1_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the highest F1 on ``(y, scores)`` (predict fraud when ``score >= threshold``)."""
    precision, recall, thresholds = skm.precision_recall_curve(y, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
    return float(thresholds[int(np.argmax(f1))])


def recall_at_precision(y: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The highest recall of any threshold whose precision is at least ``target`` (0 if none is)."""
    precision, recall, _ = skm.precision_recall_curve(y, scores)
    reachable = recall[precision >= target]
    return float(reachable.max()) if len(reachable) else 0.0


def ranking_metrics(y: np.ndarray, scores: np.ndarray, target_precision: float) -> dict[str, float]:
    """Average precision (PR-AUC), ROC-AUC and recall at ``target_precision``: no threshold involved."""
    return {"average_precision": float(skm.average_precision_score(y, scores)),
            "roc_auc": float(skm.roc_auc_score(y, scores)),
            "recall_at_precision": recall_at_precision(y, scores, target_precision)}


def thresholded_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the decisions ``scores >= threshold``, and how many rows were flagged."""
    predicted = (scores >= threshold).astype(int)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, predicted, average="binary", zero_division=0)
    return {"accuracy": float(skm.accuracy_score(y, predicted)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1), "flagged": int(predicted.sum())}


def confusion_at(y: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """2 x 2 counts, rows = true class (not fraud, fraud), columns = predicted class."""
    return skm.confusion_matrix(y, (scores >= threshold).astype(int), labels=[0, 1])


def always_not_fraud(y: np.ndarray) -> dict[str, float]:
    """The metrics of the classifier that never says "fraud" (a constant score of 0)."""
    constant = np.zeros(len(y))  # a score of 0 for every row, never reaching the threshold of 1
    return {**thresholded_metrics(y, constant, threshold=1.0), "threshold": 1.0,
            "average_precision": float(skm.average_precision_score(y, constant)),  # = the fraud rate
            "roc_auc": 0.5, "recall_at_precision": 0.0}


def precision_recall_points(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The precision-recall curve with only the points that shape it (for plots and results.json).

    Walking down the scores, each fraud moves the curve right (recall rises) and each legitimate
    row moves it down (precision falls at the same recall). Keeping the two ends of every run of
    equal recall keeps the exact curve in at most two points per fraud, however many rows there are.
    """
    precision, recall, _ = skm.precision_recall_curve(y, scores)
    changes = np.flatnonzero(np.diff(recall) != 0)
    keep = np.unique(np.concatenate([[0, len(recall) - 1], changes, changes + 1]))
    return {"precision": precision[keep].tolist(), "recall": recall[keep].tolist()}


@dataclass(frozen=True)
class Evaluation:
    """A classifier's test-split results: the threshold chosen on validation, the metrics at it and
    at 0.5, the ranking metrics, the confusion matrix and the precision-recall curve."""

    threshold: float
    metrics: dict[str, float]
    confusion: np.ndarray
    curve: dict[str, Any]


def evaluate(y_val: np.ndarray, val_scores: np.ndarray, y_test: np.ndarray, test_scores: np.ndarray,
             target_precision: float) -> Evaluation:
    """Choose the threshold on validation (best F1), then score the test split with it."""
    threshold = best_f1_threshold(y_val, val_scores)
    at_half = thresholded_metrics(y_test, test_scores, 0.5)
    metrics = {**ranking_metrics(y_test, test_scores, target_precision),
               **thresholded_metrics(y_test, test_scores, threshold), "threshold": threshold,
               **{f"{name}_at_0_5": value for name, value in at_half.items() if name != "accuracy"}}
    return Evaluation(threshold, metrics, confusion_at(y_test, test_scores, threshold),
                      precision_recall_points(y_test, test_scores))
