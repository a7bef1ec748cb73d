"""Per-class metrics of a classifier (scikit-learn) and where CLIP puts classes in its embedding space."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from hwutils.core.metrics import per_class_report


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
