"""Scoring a representation (weighted kNN, linear probe, held-out InfoNCE) and the queue's consistency."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hwutils.core.precision import choose_precision
from hwutils.moco.evaluation import QueueConsistency, heldout_infonce, keys_as_in_training, knn_predict, linear_probe
from hwutils.moco.model import MoCo, MoCoConfig

FLOAT32 = choose_precision("cpu", "float32")


def test_knn_votes_are_weighted_by_similarity():
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 1.0]]), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 1])
    query = F.normalize(torch.tensor([[1.0, 0.3]]), dim=1)
    # with k = 5, class 1 has three voters but class 0's two are far more similar: exp(s / 0.1) decides
    assert knn_predict(query, bank, labels, 2, k=5, temperature=0.1).tolist() == [0]
    # with a huge temperature every vote weighs the same and the majority wins
    assert knn_predict(query, bank, labels, 2, k=5, temperature=1e6).tolist() == [1]
    # k = 1: the nearest neighbour alone
    assert knn_predict(query, bank, labels, 2, k=1, temperature=0.1).tolist() == [0]


def test_linear_probe_separates_separable_features_and_not_noise():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 4
    signal = F.one_hot(labels, 4).float() + 0.1 * torch.randn(200, 4, generator=generator)
    noise = torch.randn(200, 4, generator=generator)
    kwargs = dict(steps=100, lr=0.05, weight_decay=0.0, device=torch.device("cpu"))
    assert linear_probe(signal[:100], labels[:100], signal[100:], labels[100:], 4, **kwargs) == 1.0
    assert linear_probe(noise[:100], labels[:100], noise[100:], labels[100:], 4, **kwargs) < 0.5


def tiny_moco() -> MoCo:
    torch.manual_seed(0)
    return MoCo(MoCoConfig(widths=(4, 8), depths=(1, 1), feature_dim=8, queue_size=8, bn_splits=2))


def test_heldout_infonce_is_ln_pairs_for_an_encoder_that_tells_nothing_apart():
    moco = tiny_moco()
    for module in (moco.encoder_q.head[-1], moco.encoder_k.head[-1]):
        torch.nn.init.zeros_(module.weight)
        torch.nn.init.ones_(module.bias)  # every image gets the same output
    views = torch.randn(6, 3, 8, 8)
    assert heldout_infonce(moco, views, views, FLOAT32) == pytest.approx(math.log(6), rel=1e-5)
    assert moco.training  # the mode it was in is restored


def test_heldout_infonce_is_low_when_each_query_meets_its_own_key():
    moco = tiny_moco()  # both encoders start equal: view i's key is view i's query
    views = torch.randn(8, 3, 8, 8)
    matched = heldout_infonce(moco, views, views, FLOAT32)
    assert matched < heldout_infonce(moco, views, views.roll(1, dims=0), FLOAT32)


def test_keys_as_in_training_leave_the_running_statistics_alone():
    moco = tiny_moco().eval()
    before = {name: b.clone() for name, b in moco.encoder_k.named_buffers()}
    keys = keys_as_in_training(moco.encoder_k, torch.randn(4, 3, 8, 8) + 3.0, FLOAT32)
    assert keys.shape == (4, 8) and torch.allclose(keys.norm(dim=1), torch.ones(4))
    assert all(torch.equal(before[name], b) for name, b in moco.encoder_k.named_buffers())
    assert not moco.encoder_k.training


def test_queue_consistency_is_one_for_a_key_encoder_that_did_not_move_and_less_after_it_moved():
    moco = tiny_moco()
    probe = QueueConsistency(torch.randn(4, 3, 8, 8), FLOAT32)
    first = probe(moco)
    assert "queue_consistency" not in first  # nothing to compare with yet
    assert first["key_query_agreement"] == pytest.approx(1.0)  # both encoders start equal
    assert probe(moco)["queue_consistency"] == pytest.approx(1.0)
    with torch.no_grad():
        for parameter in moco.encoder_k.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    moved = probe(moco)
    assert moved["queue_consistency"] < 0.99 and moved["key_query_agreement"] < 0.99
