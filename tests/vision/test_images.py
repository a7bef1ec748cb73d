"""hwutils.vision.images: transforms from an image processor, batching, predict()."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

from hwutils.vision import images as vision
from hwutils.core.errors import ConfigError, DataError

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
NAMES = ["apple_pie", "beignets", "bibimbap", "dumplings", "pizza", "ramen", "sushi"]


@pytest.fixture(scope="module")
def processor():
    return ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=list(MEAN), image_std=list(STD))


@pytest.fixture(scope="module")
def transforms(processor):
    return vision.image_transforms(processor, crop_scale=(0.5, 1.0))


@pytest.fixture(scope="module")
def tiny_classifier():
    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=len(NAMES), id2label=dict(enumerate(NAMES)),
                       label2id={n: i for i, n in enumerate(NAMES)})
    return ViTForImageClassification(config).eval()


def random_image(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


# ---------------------------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------------------------


def test_processor_size_reads_every_layout():
    assert vision.processor_size(SimpleNamespace(size={"height": 224, "width": 224})) == 224
    assert vision.processor_size(SimpleNamespace(size={"height": 224, "width": 160})) == (224, 160)
    clip_like = SimpleNamespace(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224})
    assert vision.processor_size(clip_like) == 224
    assert vision.processor_size(SimpleNamespace(size={"shortest_edge": 256})) == 256
    with pytest.raises(ConfigError, match="cannot read an input size"):
        vision.processor_size(SimpleNamespace(size={"longest_edge": 256}))


def test_transforms_take_size_mean_std_from_the_processor(transforms):
    assert transforms.size == 32 and transforms.mean == MEAN and transforms.std == STD


@pytest.mark.parametrize("width, height", [(32, 32), (50, 70), (90, 40)])
def test_both_transforms_output_the_model_input_shape(transforms, width, height):
    image = random_image(width, height)
    assert transforms.eval(image).shape == (3, 32, 32)
    assert transforms.train(image).shape == (3, 32, 32)


def test_eval_transform_normalises_with_the_processor_mean_and_std(transforms):
    colour = (100, 150, 200)
    image = Image.new("RGB", (50, 70), colour)  # a constant image stays constant through resize and crop
    expected = (torch.tensor(colour) / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
    out = transforms.eval(image)
    assert torch.allclose(out, expected[:, None, None].expand_as(out), atol=1e-5)


def test_eval_transform_equals_the_processor_on_an_image_of_the_model_size(transforms, processor):
    image = random_image(32, 32, seed=3)
    reference = processor(image, return_tensors="pt")["pixel_values"][0]
    assert torch.allclose(transforms.eval(image), reference, atol=1e-5)


def test_to_picture_undoes_the_normalisation(transforms):
    colour = (100, 150, 200)
    picture = transforms.to_picture(transforms.eval(Image.new("RGB", (40, 40), colour)))
    assert picture.shape == (32, 32, 3)
    np.testing.assert_allclose(picture, np.broadcast_to(np.array(colour) / 255, picture.shape), atol=1e-5)


def test_greyscale_images_become_three_channels(transforms):
    grey = Image.new("L", (40, 40), 128)
    assert transforms.eval(grey).shape == (3, 32, 32)


def test_eval_is_deterministic_and_train_augments_reproducibly_under_a_seed(transforms):
    image = random_image(60, 45, seed=1)
    assert torch.equal(transforms.eval(image), transforms.eval(image))
    torch.manual_seed(0)
    first = transforms.train(image)
    second = transforms.train(image)
    torch.manual_seed(0)
    again = transforms.train(image)
    assert not torch.equal(first, second), "random resized crop / flip should differ between draws"
    assert torch.equal(first, again), "augmentation should be reproducible under the same torch seed"


def test_batch_transform_and_collate_build_a_model_batch(transforms):
    batch = {"image": [random_image(40, 40, seed=s) for s in range(3)], "label": [2, 0, 1]}
    out = vision.BatchTransform(transforms.eval)(batch)
    assert set(out) == {"pixel_values", "label"} and len(out["pixel_values"]) == 3
    rows = [{"pixel_values": p, "label": y} for p, y in zip(out["pixel_values"], out["label"])]
    collated = vision.collate_images(rows)
    assert collated["pixel_values"].shape == (3, 3, 32, 32)
    assert collated["labels"].tolist() == [2, 0, 1] and collated["labels"].dtype == torch.long
    unlabelled = vision.BatchTransform(transforms.eval)({"image": batch["image"]})
    assert set(unlabelled) == {"pixel_values"}


def test_batch_transform_survives_pickling_for_dataloader_workers(transforms):
    import pickle

    restored = pickle.loads(pickle.dumps(vision.BatchTransform(transforms.eval)))
    image = random_image(40, 40)
    assert torch.equal(restored({"image": [image]})["pixel_values"][0], transforms.eval(image))


# ---------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------


def test_predict_returns_top5_sorted_with_probabilities_summing_to_at_most_one(tiny_classifier, transforms, tmp_path):
    image = random_image(48, 48, seed=7)
    top = vision.predict(image, tiny_classifier, transforms.eval, top_k=5)
    assert len(top) == 5
    probabilities = [row["probability"] for row in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0 <= p <= 1 for p in probabilities) and sum(probabilities) <= 1 + 1e-6
    assert len({row["label"] for row in top}) == 5 and all(row["label"] in NAMES for row in top)
    # the same image from a file gives the same answer
    path = tmp_path / "dish.png"
    image.save(path)
    assert vision.predict(path, tiny_classifier, transforms.eval) == top
    assert vision.predict(str(path), tiny_classifier, transforms.eval) == top


def test_predict_top_k_beyond_the_classes_returns_every_class_summing_to_one(tiny_classifier, transforms):
    top = vision.predict(random_image(32, 32), tiny_classifier, transforms.eval, top_k=50)
    assert len(top) == len(NAMES) and sum(row["probability"] for row in top) == pytest.approx(1, abs=1e-5)


def test_predict_agrees_with_the_model_argmax(tiny_classifier, transforms):
    image = random_image(32, 32, seed=11)
    with torch.no_grad():
        logits = tiny_classifier(pixel_values=transforms.eval(image)[None]).logits[0]
    assert vision.predict(image, tiny_classifier, transforms.eval)[0]["label"] == NAMES[int(logits.argmax())]


def test_a_path_that_is_not_an_image_raises_a_clear_data_error(tiny_classifier, transforms, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    with pytest.raises(DataError, match="is not an image file"):
        vision.predict(text, tiny_classifier, transforms.eval)
    truncated = tmp_path / "broken.png"
    buffer = io.BytesIO()
    random_image(32, 32).save(buffer, format="PNG")
    truncated.write_bytes(buffer.getvalue()[:60])
    with pytest.raises(DataError, match="is not an image file"):
        vision.predict(truncated, tiny_classifier, transforms.eval)
    with pytest.raises(DataError, match="does not exist"):
        vision.predict(tmp_path / "missing.jpg", tiny_classifier, transforms.eval)
    with pytest.raises(DataError, match="does not exist or is not a file"):
        vision.predict(tmp_path, tiny_classifier, transforms.eval)
    with pytest.raises(DataError, match="expected a PIL image, a path or a URL"):
        vision.predict(42, tiny_classifier, transforms.eval)


def test_load_image_from_a_url(monkeypatch):
    import requests

    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(buffer, format="PNG")

    class Response:
        content = buffer.getvalue()

        def raise_for_status(self):
            pass

    monkeypatch.setattr(requests, "get", lambda url, timeout: Response())
    image = vision.load_image("https://example.org/dish.png")
    assert image.size == (20, 10) and image.mode == "RGB"

    def offline(url, timeout):
        raise requests.ConnectionError("no network")

    monkeypatch.setattr(requests, "get", offline)
    with pytest.raises(DataError, match="could not download the image"):
        vision.load_image("https://example.org/dish.png")
