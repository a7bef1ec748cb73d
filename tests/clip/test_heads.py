"""Heads trained on cached features: class embeddings, linear probe, few-shot subsets and the held-out split."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hwutils.clip import heads, zero_shot
from hwutils.core.models import count_parameters
from tests.clip.helpers import single_torch_thread  # noqa: F401 (autouse fixture: one torch thread)


def separable_features(n_per_class: int = 30, n_classes: int = 4, dim: int = 16, seed: int = 0, noise: float = 0.6):
    """Noisy copies of one random direction per class: a task a linear classifier can learn."""
    generator = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(n_classes, dim, generator=generator), dim=-1)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    features = F.normalize(centres[labels] + noise * torch.randn(len(labels), dim, generator=generator), dim=-1)
    return features, labels, centres


def test_class_embeddings_start_as_the_zero_shot_classifier_and_learn():
    features, labels, centres = separable_features()
    rotated = F.normalize(centres + 0.8 * torch.randn(centres.shape, generator=torch.Generator().manual_seed(1)), dim=-1)
    model = heads.ClassEmbeddingClassifier(rotated, logit_scale=20.0)
    assert torch.allclose(heads.predict_logits(model, features), zero_shot.zero_shot_logits(features, rotated, 20.0), atol=1e-5)
    assert count_parameters(model).trainable == rotated.numel()  # the logit scale is a fixed buffer
    before = heads.evaluate(model, features, labels)
    run = heads.fit(model, features, labels, steps=60, lr=0.05, batch_size=32)
    after = heads.evaluate(model, features, labels)
    assert after["loss"] < before["loss"] and after["accuracy"] >= before["accuracy"]
    assert run.stats.steps == 60 and run.losses[-1]["loss"] < run.losses[0]["loss"]
    assert not torch.equal(model.class_embeddings.detach(), rotated)  # a copy was trained, not the input


def test_linear_probe_starts_uniform_and_learns_a_separable_task():
    features, labels, _ = separable_features(noise=0.3)
    probe = heads.LinearProbe(features.shape[1], 4)
    assert torch.equal(heads.predict_logits(probe, features), torch.zeros(len(labels), 4))
    assert count_parameters(probe).trainable == 16 * 4 + 4
    heads.fit(probe, features, labels, steps=100, lr=0.05, weight_decay=0.01, batch_size=32)
    assert heads.accuracy(probe, features, labels) > 0.9


def test_weight_decay_shrinks_the_probe():
    features, labels, _ = separable_features()
    norms = {}
    for decay in (0.0, 1.0):
        probe = heads.LinearProbe(features.shape[1], 4)
        heads.fit(probe, features, labels, steps=100, lr=0.05, weight_decay=decay, seed=0)
        norms[decay] = probe.linear.weight.norm().item()
    assert norms[1.0] < norms[0.0]


def test_fit_is_deterministic_for_a_seed():
    features, labels, _ = separable_features()
    weights = []
    for _ in range(2):
        probe = heads.LinearProbe(features.shape[1], 4)
        heads.fit(probe, features, labels, steps=20, lr=0.05, seed=3)
        weights.append(probe.linear.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_shots_per_class_takes_k_seeded_examples_of_every_class():
    labels = torch.tensor([0] * 5 + [1] * 2 + [2] * 7)
    chosen = heads.shots_per_class(labels, 3, seed=0)
    counts = torch.bincount(labels[chosen], minlength=3).tolist()
    assert counts == [3, 2, 3]  # class 1 has only two examples
    assert torch.equal(chosen, heads.shots_per_class(labels, 3, seed=0))
    assert not torch.equal(chosen, heads.shots_per_class(labels, 3, seed=1))


def test_stratified_holdout_splits_every_class():
    labels = torch.tensor([0] * 10 + [1] * 5 + [2] * 1)
    kept, held = heads.stratified_holdout(labels, 0.2, seed=0)
    assert sorted(kept.tolist() + held.tolist()) == list(range(16))
    assert torch.bincount(labels[held], minlength=3).tolist() == [2, 1, 1]  # at least one per class


@pytest.mark.parametrize("shots", [[1, 0], [2]])
def test_few_shot_curve_rows(shots):
    features, labels, _ = separable_features(n_per_class=10)
    rows = heads.few_shot_curve(lambda: heads.LinearProbe(16, 4), features, labels, features, labels, shots,
                                seed=0, name="probe", steps=5, lr=0.05)
    assert [r["shots"] for r in rows] == [k if k else "all" for k in shots]
    assert [r["examples"] for r in rows] == [4 * k if k else 40 for k in shots]
    assert all(0 <= r["accuracy"] <= 1 for r in rows)


def test_weight_decay_is_chosen_on_validation_accuracy_then_loss():
    features, labels, _ = separable_features(n_per_class=20, noise=0.9)
    fit_rows, val_rows = heads.stratified_holdout(labels, 0.25, seed=0)
    rows, best = heads.choose_weight_decay(lambda: heads.LinearProbe(16, 4), (features[fit_rows], labels[fit_rows]),
                                           (features[val_rows], labels[val_rows]), [0.0, 1.0, 100.0], seed=0, steps=40, lr=0.05)
    assert [row["weight decay"] for row in rows] == [0.0, 1.0, 100.0]
    expected = max(rows, key=lambda row: (row["validation accuracy"], -row["validation loss"]))
    assert best == expected["weight decay"]
    # a huge decay keeps the weights near zero: the most uncertain predictions, the highest loss
    assert rows[2]["validation loss"] > max(rows[0]["validation loss"], rows[1]["validation loss"])


def test_few_shot_curves_and_their_wording():
    rows = [{"method": "a", "shots": 1, "accuracy": 0.5}, {"method": "a", "shots": "all", "accuracy": 0.9},
            {"method": "b", "shots": 1, "accuracy": 0.2}, {"method": "b", "shots": "all", "accuracy": 0.95}]
    assert heads.few_shot_curves(rows) == {"a": {1: 0.5, "all": 0.9}, "b": {1: 0.2, "all": 0.95}}
    assert heads.shots_phrase(1) == "at 1 image per breed" and heads.shots_phrase(4, unit="class") == "at 4 images per class"
    assert heads.shots_phrase("all") == "with all the training data"


def test_heads_are_built_on_the_device_they_are_given():
    probe = heads.LinearProbe(8, 3, device="meta")
    classifier = heads.ClassEmbeddingClassifier(torch.randn(3, 8), 10.0, device="meta")
    assert probe.linear.weight.device.type == "meta" and classifier.class_embeddings.device.type == "meta"
    assert classifier.logit_scale.device.type == "meta"
