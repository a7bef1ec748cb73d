"""Views for MoCo: pairs from one image or from two copies, fixed copies, endless batches."""

from __future__ import annotations

import pytest
import torch

from hwutils.core.errors import ConfigError
from hwutils.moco import augment


def tagged_images(n: int) -> torch.Tensor:
    """Images whose every pixel holds the image's index, so a view tells which image it came from."""
    return torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).clone()


def identity(image: torch.Tensor) -> torch.Tensor:
    return image.float()


def test_one_image_per_item_pairs_two_views_of_the_same_image():
    items = augment.TwoViews.one_image_per_item(tagged_images(5), torch.tensor([0, 0, 1, 1, 1]), identity)
    view_q, view_k, source = items[3]
    assert view_q[0, 0, 0] == view_k[0, 0, 0] == 3 and source == 1
    assert len(items) == 5


def test_grouped_items_pair_two_different_copies_of_the_same_original():
    stored, sources = tagged_images(6), torch.tensor([0, 0, 0, 1, 1, 1])
    items = augment.TwoViews(stored, torch.arange(6).view(2, 3), torch.tensor([0, 1]), identity)
    assert len(items) == 2
    torch.manual_seed(0)
    for _ in range(20):
        view_q, view_k, source = items[1]
        rows = {int(view_q[0, 0, 0]), int(view_k[0, 0, 0])}
        assert len(rows) == 2 and rows <= {3, 4, 5} and source == 1


def test_members_and_sources_must_agree():
    with pytest.raises(ConfigError, match="one row per source id"):
        augment.TwoViews(tagged_images(4), torch.arange(4).view(2, 2), torch.tensor([0, 1, 2]), identity)


def test_fixed_copies_follow_their_original_and_are_reproducible():
    images = tagged_images(3) * 40
    transform = augment.copy_augmentation(4)
    state = torch.get_rng_state()
    stored, sources = augment.with_fixed_copies(images, copies=2, transform=transform, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    assert stored.shape == (9, 3, 4, 4) and stored.dtype == torch.uint8
    assert sources.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert torch.equal(stored[0::3], images)  # each original comes first, unchanged
    again, _ = augment.with_fixed_copies(images, copies=2, transform=transform, seed=7)
    assert torch.equal(stored, again)


def test_moco_augmentation_gives_normalised_random_views():
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8, generator=generator)
    transform = augment.moco_augmentation(16, 0.2, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    first, second = augment.fixed_views(torch.stack([image, image]), transform, seed=1)
    assert first.shape == (3, 16, 16) and first.dtype == torch.float32
    assert not torch.equal(first, second)  # two draws, two views
    assert torch.equal(augment.fixed_views(image[None], transform, seed=1)[0], first)


def test_normalise_matches_the_augmentations_scaling():
    images = torch.full((2, 3, 2, 2), 255, dtype=torch.uint8)
    out = augment.normalise(images, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert torch.allclose(out, torch.full_like(out, 2.0))


def test_batches_are_endless_and_reshuffled_each_epoch():
    items = augment.TwoViews.one_image_per_item(tagged_images(8), torch.arange(8), identity)
    batches = augment.Batches(items, batch_size=4, generator=torch.Generator().manual_seed(0))
    epochs = [[int(s) for _ in range(2) for s in batches()[2]] for _ in range(3)]
    assert all(sorted(epoch) == list(range(8)) for epoch in epochs)  # every image once per epoch
    assert len({tuple(epoch) for epoch in epochs}) > 1  # in a new order


def test_a_dataset_smaller_than_a_batch_fails_clearly():
    items = augment.TwoViews.one_image_per_item(tagged_images(3), torch.arange(3), identity)
    with pytest.raises(ConfigError, match="at least as many images"):
        augment.Batches(items, batch_size=4, generator=torch.Generator())
