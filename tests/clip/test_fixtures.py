"""The smoke profile's fixtures for notebook 05: the tiny CLIP models were pre-trained, so zero-shot works on the dog images."""

from __future__ import annotations

import pytest
import torch

from hwutils.clip import zero_shot
from hwutils.clip.data import breed_names, load_stanford_dogs
from hwutils.clip.features import encode_images
from hwutils.clip.fixtures import DOG_BREED_FOLDERS, PER_CLASS, TINY_CLIP_MODELS
from hwutils.clip.models import load_clip
from hwutils.core import fixtures
from tests.clip.helpers import single_torch_thread  # noqa: F401 (autouse fixture: one torch thread)


@pytest.fixture(scope="module")
def test_split():
    return load_stanford_dogs(str(fixtures.fixture_path("stanford_dogs_mini")), "test",
                              expected_size=PER_CLASS["test"] * len(DOG_BREED_FOLDERS))


@pytest.mark.parametrize("spec", TINY_CLIP_MODELS, ids=lambda spec: spec.name)
def test_tiny_clip_zero_shot_is_far_above_chance_on_the_fixture_images(spec, test_split):
    folder = fixtures.fixture_path("tiny_convnext_clip")
    clip = load_clip(spec.name, str(folder / f"{spec.name}.safetensors"), "cpu", str(folder / "configs"))
    features, _ = encode_images(clip, test_split, batch_size=80)
    labels = torch.as_tensor(list(test_split["label"]))
    names = breed_names(test_split)
    chance = 1 / len(names)
    accuracy = zero_shot.accuracy_scores(features, labels, zero_shot.class_embeddings(clip, names, "a photo of a {}."))["accuracy"]
    assert accuracy > chance + 0.25, (spec.name, accuracy)
    # the captions taught the names: the same classifier with the breed names shuffled is back near chance
    shuffled = zero_shot.class_embeddings(clip, names[1:] + names[:1], "a photo of a {}.")
    assert zero_shot.accuracy_scores(features, labels, shuffled)["accuracy"] < accuracy - 0.25
