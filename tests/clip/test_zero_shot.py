"""Zero-shot helpers: template ensembling, scores, the one-class prompt search, per-class metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from hwutils.clip import zero_shot
from hwutils.clip.evaluation import (class_centroids, neighbourhood, pair_closeness, pair_similarity, per_class_metrics, points,
                                     versus)
from tests.clip.helpers import single_torch_thread  # noqa: F401 (autouse fixture: one torch thread)


def test_ensemble_is_unit_norm_mean_of_normalised_embeddings():
    torch.manual_seed(0)
    a, b, c = (torch.randn(5, 8) * scale for scale in (1.0, 3.0, 0.1))  # different lengths on purpose
    result = zero_shot.ensemble([a, b, c])
    assert result.shape == (5, 8)
    assert torch.allclose(result.norm(dim=-1), torch.ones(5), atol=1e-6)
    expected = F.normalize(F.normalize(a, dim=-1) + F.normalize(b, dim=-1) + F.normalize(c, dim=-1), dim=-1)
    assert torch.allclose(result, expected, atol=1e-6)
    # scaling one template's embeddings does not change its weight; order does not matter
    assert torch.allclose(zero_shot.ensemble([10 * a, b, c]), result, atol=1e-6)
    assert torch.allclose(zero_shot.ensemble([c, a, b]), result, atol=1e-6)
    assert torch.allclose(zero_shot.ensemble([a]), F.normalize(a, dim=-1), atol=1e-6)


def test_zero_shot_scores_pick_the_most_similar_class():
    classes = torch.eye(3, 4)
    images = torch.tensor([[0.9, 0.1, 0, 0], [0, 0.2, 3.0, 0], [0.1, 1.0, 0.2, 0.5]])
    logits = zero_shot.zero_shot_logits(images, classes, logit_scale=100.0)
    assert logits.argmax(dim=1).tolist() == [0, 2, 1]
    assert torch.allclose(logits[0, 0], 100 * F.normalize(images[0], dim=0)[0])
    scores = zero_shot.accuracy_scores(images, torch.tensor([0, 2, 0]), classes, k=2)
    assert scores == {"accuracy": pytest.approx(2 / 3), "top2_accuracy": pytest.approx(2 / 3)}
    assert zero_shot.accuracy_scores(images, torch.tensor([1, 2, 0]), classes, k=2)["top2_accuracy"] == pytest.approx(2 / 3)


def test_with_class_embedding_changes_only_that_row():
    embs = F.normalize(torch.randn(4, 6), dim=-1)
    changed = zero_shot.with_class_embedding(embs, 2, torch.ones(6) * 5)
    assert torch.equal(changed[[0, 1, 3]], embs[[0, 1, 3]])
    assert torch.allclose(changed[2], F.normalize(torch.ones(6), dim=0))
    assert not torch.equal(changed[2], embs[2])


def test_best_variant_prefers_class_f1_then_accuracy_then_unchanged():
    rows = [{"variant": "unchanged", "f1": 0.5, "accuracy": 0.7},
            {"variant": "a", "f1": 0.5, "accuracy": 0.7},
            {"variant": "b", "f1": 0.6, "accuracy": 0.6},
            {"variant": "c", "f1": 0.6, "accuracy": 0.65}]
    assert zero_shot.best_variant(rows)["variant"] == "c"
    assert zero_shot.best_variant(rows[:2])["variant"] == "unchanged"  # a tie keeps the classifier unchanged


def test_one_class_scores_match_scikit_learn():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2, 1])
    scores = zero_shot.one_class_scores(y_true, y_pred, 1)
    assert scores["precision"] == pytest.approx(skm.precision_score(y_true, y_pred, labels=[1], average="macro"))
    assert scores["recall"] == pytest.approx(1.0)
    assert scores["f1"] == pytest.approx(skm.f1_score(y_true, y_pred, labels=[1], average="macro"))
    assert scores["accuracy"] == pytest.approx(4 / 7)


def test_per_class_metrics_against_scikit_learn_on_a_hand_made_case():
    # a: 3 images, 2 found, no false positive; b: 2 images, both found, plus 3 false positives; c: never predicted
    y_true = [0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 1, 1, 1, 1]
    table = per_class_metrics(y_true, y_pred, labels=[0, 1, 2], names=["a", "b", "c"])
    assert list(table["class"]) == ["a", "b", "c"]
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(table["precision"], precision)
    np.testing.assert_allclose(table["recall"], recall)
    np.testing.assert_allclose(table["f1"], f1)
    np.testing.assert_array_equal(table["support"], support)
    # by hand: precision a = 2/2, b = 2/5, c = 0; recall a = 2/3, b = 2/2, c = 0/2
    np.testing.assert_allclose(table["precision"], [1, 2 / 5, 0])
    np.testing.assert_allclose(table["recall"], [2 / 3, 1, 0])
    np.testing.assert_allclose(table["f1"], [0.8, 4 / 7, 0])
    # one-vs-rest accuracy (TP + TN) / 7: a: 2 + 4; b: 2 + 2; c: 0 + 5
    np.testing.assert_allclose(table["accuracy"], [6 / 7, 4 / 7, 5 / 7])
    for c in range(3):
        binary = skm.accuracy_score(np.array(y_true) == c, np.array(y_pred) == c)
        assert table["accuracy"][c] == pytest.approx(binary)


def test_centroids_and_pair_similarity():
    features = torch.tensor([[1.0, 0], [3.0, 0], [0, 2.0], [1.0, 1.0]])
    centroids = class_centroids(features, torch.tensor([0, 0, 1, 2]), 3)
    assert torch.allclose(centroids, F.normalize(torch.tensor([[4.0, 0], [0, 2.0], [1.0, 1.0]]), dim=-1))
    similarity, average = pair_similarity(centroids, 0, 2)
    assert similarity == pytest.approx(2 ** -0.5, abs=1e-6)
    assert average == pytest.approx((0 + 2 ** -0.5 + 2 ** -0.5) / 3, abs=1e-6)


def test_pair_closeness_reads_text_and_image_sides():
    text = torch.tensor([[1.0, 0], [1.0, 0.1], [0, 1.0]])
    features = torch.tensor([[1.0, 0], [0, 1.0], [0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 2])
    pair = pair_closeness(text, features, labels, 0, 1)
    assert pair["text"] == pytest.approx(pair_similarity(text, 0, 1)[0]) and pair["text"] > pair["text_mean"]
    assert pair["image"] == pytest.approx(0.0, abs=1e-6) and pair["image"] < pair["image_mean"]  # orthogonal centroids


def test_neighbourhood_lists_the_class_then_each_neighbour_once():
    names = ["a", "b", "c", "d"]
    mistaken_for = [{"predicted as": "c"}, {"predicted as": "b"}]
    taken_from = [{"true class": "b"}, {"true class": "d"}]
    assert neighbourhood(0, mistaken_for, taken_from, names) == [0, 2, 1, 3]
    assert neighbourhood(2, [], [], names) == [2]
    assert points(0.1234) == "12.3 points"
    assert versus(0.75, 0.5) == "25.0 points above" and versus(0.5, 0.75) == "25.0 points below" and versus(0.5, 0.5) == "level with"


def test_zero_shot_cost_records_no_training_and_the_encoding():
    from types import SimpleNamespace

    from hwutils.core.training import RunStats

    features = SimpleNamespace(stats=RunStats(wall_time_s=2.0, samples=10, device="cpu"))
    cost = zero_shot.zero_shot_cost({"total": 1000, "image_encoder": 600}, features)
    assert cost["trainable_parameters"] == 0 and cost["labelled_images"] == 0 and cost["total_parameters"] == 1000
    assert cost["encoding"]["samples_per_s"] == 5.0


def test_template_table_rows_use_the_shared_metric_names():
    class FakeClip:  # the class embeddings of a template: one-hot rows, rotated by the template's length
        def encode_text(self, texts):
            return F.normalize(torch.eye(3)[[(i + len(texts[0])) % 3 for i in range(len(texts))]] + 0.01, dim=-1)

    features, labels = torch.eye(3), torch.tensor([0, 1, 2])
    rows, embeddings = zero_shot.template_table(FakeClip(), features, labels, ["a", "b", "c"], ["{}", "x{}"], k=2)
    assert [row["template"] for row in rows] == ["'{}'", "'x{}'", "ensemble of the 2 templates"]
    assert all(set(row) == {"template", "accuracy", "top2_accuracy"} for row in rows)
    assert set(embeddings) == {"{}", "x{}", "ensemble"}
