"""Per-class metrics of a classifier (scikit-learn), a class's confusion neighbourhood, and where CLIP puts
classes in its embedding space."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def neighbourhood(index: int, mistaken_for: Sequence[Mapping[str, Any]], taken_from: Sequence[Mapping[str, Any]],
                  names: Sequence[str]) -> list[int]:
    """Class ``index`` first, then each class it is mistaken for or mistaken from, once (rows of
    :func:`hwutils.core.metrics.confusions_of` and :func:`~hwutils.core.metrics.confused_into`)."""
    neighbours = [names.index(row["predicted as"]) for row in mistaken_for] + [names.index(row["true class"]) for row in taken_from]
    return list(dict.fromkeys([index, *neighbours]))


def points(difference: float) -> str:
    """A difference of two accuracies, in percentage points: ``0.123`` -> ``"12.3 points"``."""
    return f"{100 * difference:.1f} points"


def pair_closeness(class_embeddings: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, i: int, j: int) -> dict[str, float]:
    """How close classes ``i`` and ``j`` are on each side of CLIP, against the mean over all pairs of classes:
    ``text`` (their class embeddings) and ``image`` (the centroids of their images' ``features``)."""
    text, text_mean = pair_similarity(class_embeddings, i, j)
    image, image_mean = pair_similarity(class_centroids(features, labels, len(class_embeddings)), i, j)
    return {"text": text, "text_mean": text_mean, "image": image, "image_mean": image_mean}


def versus(accuracy: float, reference: float) -> str:
    """Where ``accuracy`` stands against ``reference`` in words: ``"2.5 points above"``, ``"0.6 points below"``, ``"level with"``."""
    if accuracy == reference:
        return "level with"
    return f"{points(abs(accuracy - reference))} {'above' if accuracy > reference else 'below'}"
