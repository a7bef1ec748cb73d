from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from hwutils.core import metrics
from hwutils.core import plots


def test_per_class_report_on_a_hand_made_case():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 0]
    report = metrics.per_class_report(y_true, y_pred, labels=[0, 1, 2], names=["a", "b", "c"])
    assert list(report["class"]) == ["a", "b", "c"]
    # class a: predicted 3 times, right once; 2 true, 1 found
    assert report.loc[0, "precision"] == pytest.approx(1 / 3) and report.loc[0, "recall"] == pytest.approx(1 / 2)
    assert report.loc[1, "precision"] == pytest.approx(2 / 3) and report.loc[1, "recall"] == 1.0
    assert report.loc[2, "f1"] == 0 and report.loc[2, "support"] == 2  # never predicted, still a row
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(3 / 6)
    assert metrics.macro_f1(y_true, y_pred) == pytest.approx(report["f1"].mean())


def test_confusion_rows_are_true_classes():
    matrix = metrics.confusion([0, 0, 1], [1, 1, 1], labels=[0, 1])
    assert matrix.tolist() == [[0, 2], [0, 1]]


def test_top_k_accuracy():
    scores = np.array([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05]])
    assert metrics.top_k_accuracy([2, 2], scores, k=1) == 0
    assert metrics.top_k_accuracy([2, 2], scores, k=2) == 0.5
    assert metrics.top_k_accuracy([2, 2], scores, k=3) == 1


def test_plots_draw_without_error():
    ax = plots.learning_curves([{"step": i, "loss": 1 / i} for i in range(1, 30)], [{"step": 10, "val_loss": 0.2}], smooth=5)
    assert len(ax.lines) == 3
    ax = plots.confusion_matrix(np.array([[3, 1], [0, 4]]), ["neg", "pos"])
    assert ax.get_xlabel() == "predicted"
    ax = plots.accuracy_vs_parameters([{"method": "lora", "trainable_parameters": 1000, "accuracy": 0.8},
                                       {"method": "full", "trainable_parameters": 10**6, "accuracy": 0.9}], chance=0.5)
    assert ax.get_xscale() == "log"


def test_most_confused_pairs_and_classes():
    names = ["a", "b", "c", "d"]
    matrix = np.array([[10, 3, 0, 0],
                       [1, 12, 0, 0],
                       [0, 0, 9, 2],
                       [0, 0, 0, 8]])
    pairs = metrics.most_confused_pairs(matrix, names, n=10)
    assert [(p["true"], p["predicted as"], p["count"]) for p in pairs] == [("a", "b", 3), ("c", "d", 2), ("b", "a", 1)]
    assert pairs[0]["share of the true class"] == pytest.approx(3 / 13)
    assert metrics.most_confused_classes(matrix, k=2) == [0, 1]  # a and b: 4 errors between them
    assert metrics.most_confused_classes(matrix, k=4) == [0, 1, 2, 3]
    assert metrics.most_confused_pairs(np.eye(3, dtype=int) * 5, ["x", "y", "z"]) == []


def test_confusions_of_a_class_read_its_row_and_column():
    matrix = np.array([[5, 3, 1, 0], [2, 6, 0, 0], [0, 4, 1, 0], [0, 0, 0, 2]])
    names = ["a", "b", "c", "d"]
    assert metrics.confusions_of(matrix, 0, names) == [
        {"predicted as": "b", "images": 3, "share of the class": 3 / 9},
        {"predicted as": "c", "images": 1, "share of the class": 1 / 9}]
    assert [r["true class"] for r in metrics.confused_into(matrix, 1, names)] == ["c", "a"]
    assert metrics.confusions_of(matrix, 3, names) == [] and metrics.confused_into(matrix, 3, names) == []
