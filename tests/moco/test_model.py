"""MoCo from scratch: momentum update, queue, InfoNCE, shuffle BN, and the ResNet-18 it uses."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from hwutils.core.errors import ConfigError
from hwutils.moco.model import MoCo, MoCoConfig, ResNet, SplitBatchNorm, info_nce

TINY = MoCoConfig(widths=(4, 8), depths=(1, 1), feature_dim=8, queue_size=12, momentum=0.9, temperature=0.2, bn_splits=2)


def tiny_moco(**changes) -> MoCo:
    torch.manual_seed(0)
    return MoCo(replace(TINY, **changes))


def batch(n: int = 4, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=generator), torch.randn(n, 3, 8, 8, generator=generator), torch.arange(n)


def sgd_step(moco: MoCo, optimizer, seed: int) -> None:
    loss = moco(*batch(seed=seed))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def parameters(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_the_key_encoder_receives_no_gradients_and_the_query_encoder_does():
    moco = tiny_moco()
    moco(*batch()).backward()
    assert all(p.grad is None and not p.requires_grad for p in moco.encoder_k.parameters())
    assert all(p.grad is not None for p in moco.encoder_q.parameters())


@pytest.mark.slow
def test_with_momentum_one_the_key_encoder_never_changes():
    moco = tiny_moco(momentum=1.0)
    start = parameters(moco.encoder_k)
    optimizer = torch.optim.SGD(moco.encoder_q.parameters(), lr=0.5)
    for step in range(3):
        sgd_step(moco, optimizer, seed=step)
    assert all(torch.equal(a, b) for a, b in zip(start, parameters(moco.encoder_k)))
    assert not all(torch.equal(a, b) for a, b in zip(start, parameters(moco.encoder_q)))  # the query encoder did learn


@pytest.mark.slow
def test_with_momentum_zero_the_key_encoder_equals_the_query_encoder_at_every_step():
    moco = tiny_moco(momentum=0.0)
    optimizer = torch.optim.SGD(moco.encoder_q.parameters(), lr=0.5)
    for step in range(3):
        loss = moco(*batch(seed=step))  # the forward pass updates the key encoder, then encodes the keys
        assert all(torch.equal(q, k) for q, k in zip(parameters(moco.encoder_q), parameters(moco.encoder_k)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()  # the query encoder moves on; the next forward pass copies it again
        assert not all(torch.equal(q, k) for q, k in zip(parameters(moco.encoder_q), parameters(moco.encoder_k)))


def test_the_momentum_update_is_an_exponential_moving_average():
    moco = tiny_moco(momentum=0.9)
    with torch.no_grad():
        for p in moco.encoder_q.parameters():
            p.add_(1.0)
    before_q, before_k = parameters(moco.encoder_q), parameters(moco.encoder_k)
    moco.momentum_update()
    for q, k, after in zip(before_q, before_k, parameters(moco.encoder_k)):
        torch.testing.assert_close(after, 0.9 * k + 0.1 * q)


def test_the_queue_keeps_its_size_and_drops_the_oldest_keys():
    moco = tiny_moco()  # queue of 12
    batches = [F.normalize(torch.randn(5, 8), dim=1) for _ in range(4)]
    for index, keys in enumerate(batches):
        moco.enqueue(keys, torch.full((5,), index))
        assert moco.queue.shape == (12, 8) and moco.queue_sources.shape == (12,)
    # 20 keys went in; the 12 newest remain: the last 2 of batch 1, then batches 2 and 3
    newest = torch.cat(batches)[-12:]
    assert sorted(map(tuple, moco.queue.tolist())) == sorted(map(tuple, newest.tolist()))
    assert sorted(moco.queue_sources.tolist()) == [1, 1] + [2] * 5 + [3] * 5
    assert int(moco.queue_pointer) == 20 % 12  # the next row to be replaced holds the oldest key
    assert moco.queue_sources[int(moco.queue_pointer)] == 1


def test_a_batch_larger_than_the_queue_is_refused():
    with pytest.raises(ConfigError, match="queue_size"):
        tiny_moco(queue_size=3).enqueue(torch.zeros(4, 8), torch.zeros(4, dtype=torch.long))


def test_info_nce_equals_the_hand_computed_value():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    queue = torch.tensor([[1.0, 0.0], [0.0, -1.0], [0.8, 0.6]])
    t = 0.5
    # query 1: positive 0.6, negatives 1, 0, 0.8; query 2: positive 1, negatives 0, -1, 0.6
    first = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(1 / t) + math.exp(0) + math.exp(0.8 / t)))
    second = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0) + math.exp(-1 / t) + math.exp(0.6 / t)))
    assert info_nce(q, k, queue, t).item() == pytest.approx((first + second) / 2, rel=1e-6)
    # leaving out query 1's first negative removes exp(1 / t) from its sum only
    excluded = torch.tensor([[True, False, False], [False, False, False]])
    first_without = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(0) + math.exp(0.8 / t)))
    assert info_nce(q, k, queue, t, excluded).item() == pytest.approx((first_without + second) / 2, rel=1e-6)


def test_same_source_keys_in_the_queue_are_counted_exactly():
    moco = tiny_moco()
    moco.enqueue(F.normalize(torch.randn(12, 8), dim=1), torch.tensor([0, 0, 1, 5, 5, 5, 7, 8, 9, 9, 9, 9]))
    view_q, view_k, _ = batch(4)
    moco(view_q, view_k, torch.tensor([0, 5, 6, 2]))  # query 0 has 2 same-source keys, query 5 has 3, the others none
    stats = moco.false_negative_stats()
    assert stats["false_negatives_per_query"] == pytest.approx(5 / 4)
    assert stats["false_negative_share"] == pytest.approx(5 / (4 * 12))
    assert stats["queries_with_false_negative"] == pytest.approx(2 / 4)


def test_excluding_same_source_keys_changes_the_loss_only_for_queries_that_have_them():
    generator = torch.Generator().manual_seed(0)
    queue = F.normalize(torch.randn(12, 8, generator=generator), dim=1)
    sources = torch.tensor([0, 0, 1, 5, 5, 5, 7, 8, 9, 9, 9, 9])
    view_q, view_k, _ = batch(4)
    losses = {}
    for exclude in (False, True):
        moco = tiny_moco(exclude_same_source=exclude)
        moco.enqueue(queue, sources)
        torch.manual_seed(3)  # the same key shuffle
        losses[exclude] = moco(view_q, view_k, torch.tensor([2, 3, 4, 6])).item()  # no query shares a source
    assert losses[False] == pytest.approx(losses[True])
    for exclude in (False, True):
        moco = tiny_moco(exclude_same_source=exclude)
        moco.enqueue(queue, sources)
        torch.manual_seed(3)
        losses[exclude] = moco(view_q, view_k, torch.tensor([9, 3, 4, 6])).item()  # query 0 has 4 same-source keys
    assert losses[True] < losses[False]  # fewer negatives in the denominator


def test_split_batch_norm_normalises_each_group_with_its_own_statistics():
    torch.manual_seed(0)
    norm = SplitBatchNorm(3, num_splits=2).train()
    x = torch.randn(4, 3, 2, 2)
    x[1::2] += 5.0  # the groups are samples {0, 2} and {1, 3}: shift the second
    out = norm(x)
    for group in (out[0::2], out[1::2]):  # each group has mean 0 on its own
        assert group.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    whole = torch.nn.BatchNorm2d(3).train()(x)
    assert not torch.allclose(out, whole)
    norm.eval()
    assert torch.allclose(norm(x), F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias))


def test_keys_are_returned_in_the_order_of_their_images_despite_the_shuffle():
    moco = tiny_moco(bn_splits=1).eval()  # no batch statistics: a key depends on its own image only
    _, view_k, _ = batch(4)
    torch.manual_seed(5)
    shuffled = moco.encode_keys(view_k)
    one_by_one = torch.cat([F.normalize(moco.encoder_k(view_k[i:i + 1]), dim=1) for i in range(4)])
    torch.testing.assert_close(shuffled, one_by_one)


def test_the_resnet18_configuration_has_torchvisions_resnet18_parameters():
    """widths (64, 128, 256, 512) x depths (2, 2, 2, 2) is torchvision's resnet18 with the CIFAR
    demo's changes (3x3 stride-1 stem, no max-pool), minus its classification layer."""
    import torchvision

    with torch.device("meta"):
        ours = ResNet((64, 128, 256, 512), (2, 2, 2, 2), torch.nn.BatchNorm2d)
        reference = torchvision.models.resnet18()
        reference.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        reference.fc = torch.nn.Identity()
        output_shape = ours(torch.empty(2, 3, 32, 32)).shape
        feature_map = ours.blocks(ours.stem(torch.empty(2, 3, 32, 32))).shape  # 32 -> 32, 16, 8, 4
    shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert shapes == sorted(tuple(p.shape) for p in reference.parameters())
    assert sum(p.numel() for p in ours.parameters()) == 11_168_832
    assert output_shape == (2, 512) and feature_map == (2, 512, 4, 4)
