"""The smoke fixture (shapes in palette colours, saved as CIFAR-10 is) and the loader that reads it."""

from __future__ import annotations

import pytest
import torch

from hwutils.core.fixtures import fixture_path
from hwutils.moco import fixtures
from hwutils.moco.data import channel_stats, load_images
from hwutils.moco.evaluation import knn_predict


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = fixture_path("moco_shapes", root=tmp_path_factory.mktemp("fixtures"))
    return load_images(str(folder), "train", examples=0, seed=0), load_images(str(folder), "test", examples=0, seed=0)


def test_the_fixture_loads_like_cifar10(shapes):
    train, test = shapes
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (3, fixtures.IMAGE_SIZE, fixtures.IMAGE_SIZE)
    assert train.names == list(fixtures.CLASSES)
    for part, split in ((train, "train"), (test, "test")):
        assert torch.bincount(part.labels).tolist() == [fixtures.IMAGES_PER_CLASS[split]] * len(fixtures.CLASSES)


def test_a_balanced_subset_is_drawn_per_class(tmp_path_factory, shapes):
    folder = fixture_path("moco_shapes", root=tmp_path_factory.mktemp("again"))
    subset = load_images(str(folder), "train", examples=60, seed=3)
    assert torch.bincount(subset.labels).tolist() == [10] * len(fixtures.CLASSES)


def test_colour_alone_does_not_tell_the_classes_apart(shapes):
    """A nearest-neighbour lookup on each image's mean colour stays near chance (1/6)."""
    train, test = shapes

    def mean_colour(images):
        colour = images.float().mean(dim=(2, 3))
        return torch.nn.functional.normalize(colour - colour.mean(dim=0), dim=1)

    predicted = knn_predict(mean_colour(test.images), mean_colour(train.images), train.labels, len(train.names),
                            k=10, temperature=0.1)
    accuracy = float((predicted == test.labels).double().mean())
    assert accuracy < 1 / len(train.names) + 0.15, accuracy


def test_the_drawings_are_deterministic_and_differ_between_images():
    first, labels = fixtures.shape_images(2, 16, seed=5)
    second, _ = fixtures.shape_images(2, 16, seed=5)
    assert [im.tobytes() for im in first] == [im.tobytes() for im in second]
    assert len({im.tobytes() for im in first}) == len(first)
    assert labels == list(range(len(fixtures.CLASSES))) * 2


def test_unknown_shape_fails():
    import numpy as np

    with pytest.raises(ValueError, match="unknown shape"):
        fixtures.draw_shape("hexagon", 16, np.random.default_rng(0))


def test_channel_stats_are_on_the_zero_to_one_scale():
    images = torch.stack([torch.zeros(3, 2, 2, dtype=torch.uint8), torch.full((3, 2, 2), 255, dtype=torch.uint8)])
    mean, std = channel_stats(images)
    assert mean == pytest.approx((0.5, 0.5, 0.5)) and std == pytest.approx((0.5345,) * 3, abs=1e-3)
