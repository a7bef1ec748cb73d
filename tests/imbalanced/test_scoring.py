"""Metrics for a rare class and the threshold chosen on validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from hwutils.imbalanced import scoring


def test_best_f1_threshold_on_a_worked_example():
    y = np.array([0, 0, 1, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    # >= 0.8: P 1, R 2/3, F1 0.8; >= 0.3: P 3/4, R 1, F1 0.857 (the best); >= 0.1: P 1/2, R 1, F1 0.667
    assert scoring.best_f1_threshold(y, scores) == 0.3


def test_recall_at_precision_on_a_worked_example():
    y = np.array([0, 0, 1, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    assert scoring.recall_at_precision(y, scores, 1.0) == pytest.approx(2 / 3)
    assert scoring.recall_at_precision(y, scores, 0.75) == 1.0
    assert scoring.recall_at_precision(np.array([0, 1]), np.array([0.9, 0.1]), 0.9) == 0.0


def test_thresholded_metrics_flag_scores_at_or_above_the_threshold():
    result = scoring.thresholded_metrics(np.array([0, 1, 1]), np.array([0.2, 0.5, 0.7]), 0.5)
    assert result["flagged"] == 2 and result["recall"] == 1.0 and result["precision"] == 1.0


def test_always_not_fraud_has_high_accuracy_and_no_recall():
    y = np.array([0] * 998 + [1] * 2)
    result = scoring.always_not_fraud(y)
    assert result["accuracy"] == 0.998 and result["recall"] == 0 and result["flagged"] == 0
    assert result["average_precision"] == pytest.approx(0.002) and result["roc_auc"] == 0.5


def test_the_threshold_comes_from_validation_not_from_test():
    y_val, val_scores = np.array([0, 1, 0, 1]), np.array([0.1, 0.6, 0.5, 0.9])  # best F1 at 0.6
    y_test, test_scores = np.array([0, 1, 1, 0]), np.array([0.1, 0.2, 0.3, 0.95])  # best F1 on test would be 0.2
    evaluation = scoring.evaluate(y_val, val_scores, y_test, test_scores, target_precision=0.5)
    assert evaluation.threshold == 0.6
    assert evaluation.metrics["flagged"] == 1 and evaluation.metrics["recall"] == 0.0
    assert evaluation.confusion.tolist() == [[1, 1], [2, 0]]
    assert evaluation.metrics["flagged_at_0_5"] == 1


def test_the_thinned_curve_is_the_exact_curve():
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=20_000) < 0.003).astype(int)
    scores = rng.normal(size=20_000) + 2.5 * y
    curve = scoring.precision_recall_points(y, scores)
    assert len(curve["recall"]) <= 2 * (y.sum() + 1) + 2
    precision, recall = np.array(curve["precision"]), np.array(curve["recall"])
    # average precision = sum over recall steps of the precision reached there
    assert -np.sum(np.diff(recall) * precision[:-1]) == pytest.approx(average_precision_score(y, scores))
    assert precision.max() == 1.0 and recall.max() == 1.0
