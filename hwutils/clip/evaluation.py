"""Per-class metrics of a classifier and the confusions of one class (computed with scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from hwutils.metrics import per_class_report


def per_class_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int],
                      names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per class: precision, recall, F1, one-vs-rest accuracy and support.

    The *recall* of a class is the top-1 accuracy on that class's images. The one-vs-rest
    *accuracy* answers "is this image of class c or not?" correctly, (TP + TN) / N; with many
    classes it is dominated by the true negatives, so it is close to 1 for every class.
    """
    report = per_class_report(y_true, y_pred, labels, names)
    one_vs_rest = skm.multilabel_confusion_matrix(y_true, y_pred, labels=list(labels))  # (C, 2, 2): [[TN, FP], [FN, TP]]
    report.insert(4, "accuracy", (one_vs_rest[:, 0, 0] + one_vs_rest[:, 1, 1]) / len(y_true))
    return report


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


def class_centroids(features: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """The normalised mean feature of every class (C x D): where a class's images sit in the embedding space."""
    sums = torch.zeros(n_classes, features.shape[1]).index_add_(0, labels, features.float())
    return F.normalize(sums, dim=-1)


def pair_similarity(embeddings: torch.Tensor, i: int, j: int) -> tuple[float, float]:
    """Cosine similarity of rows ``i`` and ``j`` of ``embeddings``, and the mean over all pairs of distinct rows."""
    unit = F.normalize(embeddings.float(), dim=-1)
    similarity = unit @ unit.T
    n = len(unit)
    off_diagonal = (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))
    return float(similarity[i, j]), float(off_diagonal)
