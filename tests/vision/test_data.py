"""Notebook 04's data: the ``food_images`` and ``tiny_vit`` fixtures and ``hwutils.vision.data``."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from hwutils.core import fixtures
from hwutils.vision.data import label_maps, load_food101
from hwutils.core.errors import DataError
from hwutils.vision.fixtures import FOOD_CLASSES, IMAGES_PER_CLASS, NEW_PHOTO, NEW_PHOTO_LABEL


@pytest.fixture(scope="module")
def images_folder():
    return str(fixtures.fixture_path("food_images"))


@pytest.fixture(scope="module")
def full_fixture(images_folder):
    return load_food101(images_folder, train_examples=0, validation_fraction=0.1, test_examples=0, seed=0)


# ---------------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_loader_reads_the_image_folder_with_food101_splits_and_names(full_fixture):
    data = full_fixture
    n_train, n_test = (IMAGES_PER_CLASS[s] * len(FOOD_CLASSES) for s in ("train", "validation"))
    assert data.sizes() == {"train": n_train - n_train // 10, "validation": n_train // 10, "test": n_test}
    assert data.names == FOOD_CLASSES and data.num_labels == len(FOOD_CLASSES)
    assert set(data.train.column_names) == {"image", "label"}
    assert data.train[0]["image"].size == (48, 48)


def test_label_names_are_mapped_both_ways(full_fixture):
    id2label, label2id = full_fixture.id2label, full_fixture.label2id
    assert all(label2id[id2label[i]] == i for i in id2label)
    assert id2label[FOOD_CLASSES.index("pizza")] == "pizza"
    assert label_maps(["b", "a"]) == ({0: "b", 1: "a"}, {"b": 0, "a": 1})
    with pytest.raises(DataError, match="unique"):
        label_maps(["a", "a"])


@pytest.mark.slow
def test_subsets_are_balanced_stratified_and_disjoint(images_folder):
    data = load_food101(images_folder, train_examples=200, validation_fraction=0.1, test_examples=100, seed=0)
    assert data.sizes() == {"train": 180, "validation": 20, "test": 100}
    assert set(Counter(data.train["label"]).values()) == {18}
    assert set(Counter(data.validation["label"]).values()) == {2}
    assert set(Counter(data.test["label"]).values()) == {10}
    # validation is carved out of the train subset: no image is in both
    train_rows = {np.asarray(row["image"]).tobytes() for row in data.train}
    assert not any(np.asarray(row["image"]).tobytes() in train_rows for row in data.validation)


@pytest.mark.slow
def test_subsets_are_seeded(images_folder):
    def labels(seed):
        data = load_food101(images_folder, train_examples=100, validation_fraction=0.2, test_examples=50, seed=seed)
        return data.train["label"], data.validation["label"], data.test["label"]

    assert labels(0) == labels(0)
    assert labels(0) != labels(1)


@pytest.mark.slow
def test_loading_a_local_folder_leaves_datasets_progress_bars_as_they_were(images_folder):
    from datasets.utils import are_progress_bars_disabled

    before = are_progress_bars_disabled()
    load_food101(images_folder, train_examples=20, validation_fraction=0.5, test_examples=10, seed=0)
    assert are_progress_bars_disabled() == before


def test_loader_errors_are_clear(tmp_path, images_folder):
    with pytest.raises(DataError, match="does not exist"):
        load_food101("/no/such/folder", train_examples=0, validation_fraction=0.1, test_examples=0, seed=0)
    with pytest.raises(DataError, match="validation_fraction must be in"):
        load_food101(images_folder, train_examples=0, validation_fraction=0, test_examples=0, seed=0)
    (tmp_path / "train.jsonl").write_text(json.dumps({"text": "soup", "label": 0}) + "\n")
    (tmp_path / "validation.jsonl").write_text(json.dumps({"text": "cake", "label": 1}) + "\n")
    with pytest.raises(DataError, match="has no column 'image'"):
        load_food101(str(tmp_path), train_examples=0, validation_fraction=0.5, test_examples=0, seed=0)


# ---------------------------------------------------------------------------------------------
# The fixtures
# ---------------------------------------------------------------------------------------------


def test_new_photo_is_an_extra_image_outside_the_splits(images_folder, full_fixture):
    from PIL import Image

    from hwutils.vision.fixtures import IMAGE_SIZE

    with Image.open(f"{images_folder}/{NEW_PHOTO}") as photo:
        assert photo.format == "JPEG" and photo.size == (4 * IMAGE_SIZE, 4 * IMAGE_SIZE)
    assert NEW_PHOTO_LABEL in FOOD_CLASSES
    total = sum(full_fixture.sizes().values())
    assert total == sum(IMAGES_PER_CLASS.values()) * len(FOOD_CLASSES)  # the photo is in no split


def test_tiny_vit_is_an_in21k_like_backbone_with_its_processor():
    from transformers import AutoConfig, AutoImageProcessor, ViTForImageClassification

    folder = fixtures.fixture_path("tiny_vit")
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "vit" and config.architectures == ["ViTModel"]
    assert (config.image_size, config.patch_size) == (32, 8)
    processor = AutoImageProcessor.from_pretrained(folder, use_fast=True)
    assert processor.size == {"height": 32, "width": 32}
    model = ViTForImageClassification.from_pretrained(folder, num_labels=len(FOOD_CLASSES))
    assert model.classifier.out_features == len(FOOD_CLASSES)


@pytest.mark.slow
def test_tiny_vit_was_pre_trained_on_shapes_its_features_tell_shapes_apart_not_the_food_classes(full_fixture):
    """Nearest class mean on the [CLS] features of the food images: the pre-trained backbone tells
    the five shapes apart far above chance and above the same architecture at random
    initialisation; the ten food classes (shape x texture, texture never labelled in pre-training)
    stay well below what fine-tuning must reach, so the notebook's training is what its results measure."""
    from transformers import AutoImageProcessor, ViTModel

    from hwutils.core.fixtures.synthetic_images import SHAPES
    from hwutils.vision.images import image_transforms

    folder = fixtures.fixture_path("tiny_vit")
    transform = image_transforms(AutoImageProcessor.from_pretrained(folder, use_fast=True)).eval

    def nearest_mean_accuracy(model, classes_of):
        def features(split):
            pixels = torch.stack([transform(row["image"]) for row in split])
            with torch.no_grad():
                return model(pixel_values=pixels).last_hidden_state[:, 0].numpy(), classes_of(np.asarray(split["label"]))

        train_x, train_y = features(full_fixture.train)
        test_x, test_y = features(full_fixture.test)
        means = np.stack([train_x[train_y == c].mean(0) for c in np.unique(train_y)])
        predicted = ((test_x[:, None] - means[None]) ** 2).sum(-1).argmin(1)
        return float((predicted == test_y).mean())

    pretrained = ViTModel.from_pretrained(folder, add_pooling_layer=False).eval()
    torch.manual_seed(0)
    random = ViTModel(pretrained.config, add_pooling_layer=False).eval()
    shape_of, food_class = (lambda labels: labels % len(SHAPES)), (lambda labels: labels)
    shapes = {name: nearest_mean_accuracy(model, shape_of) for name, model in (("pretrained", pretrained), ("random", random))}
    foods = {name: nearest_mean_accuracy(model, food_class) for name, model in (("pretrained", pretrained), ("random", random))}
    print(shapes, foods)
    assert shapes["pretrained"] > 1 / len(SHAPES) + 0.15 and shapes["pretrained"] > shapes["random"] + 0.08, shapes
    assert foods["pretrained"] < 0.6, foods  # the texture half of the label is left to fine-tuning
