"""Offline stand-ins for notebook 04: a tiny pre-trained ViT and a small Food101-like image set.

* ``tiny_vit``: a ``ViTModel`` folder like ``google/vit-base-patch16-224-in21k`` (backbone and
  pooler, no classification head, ``architectures = ["ViTModel"]``) with a ``ViTImageProcessor``
  saved beside it, at a tiny scale: 32x32 images cut into 8x8 patches, width 128, 4 layers. Like
  the real checkpoint it is *pre-trained* on other labels than the ones it will be fine-tuned on:
  a few seconds of supervised training (the shared loop,
  :func:`hwutils.core.fixtures.pretraining.pretrain`) on 16 "pre-training classes" (colour and
  shape pairs drawn by :mod:`hwutils.core.fixtures.synthetic_images`, with hues the food classes
  do not use), after which the head is dropped. Fine-tuning then has features to adapt, as with
  ImageNet-21k.
* ``food_images``: ``imagefolder`` layout with Food101's split names (``train``, ``validation``)
  and ten of its class names; every class has its own colour and shape (the learnable signal).
  ``new_photo.jpg`` beside the splits is one more image of class :data:`NEW_PHOTO_LABEL`, drawn
  larger and saved as a JPEG, for the prediction demo. The README's YAML header has no ``configs`` on
  purpose: ``datasets`` then infers the splits from the folder names and keys its cache on the
  files it found (with a header it keys on the patterns only, and a rebuilt fixture could be
  served from a stale cache).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwutils.core.fixtures import fixture
from hwutils.core.fixtures.pretraining import pretrain
from hwutils.core.fixtures.synthetic_images import draw_example, write_imagefolder

# Ten real Food101 class names (the full dataset has 101), in its alphabetical order.
FOOD_CLASSES = ["apple_pie", "beignets", "bibimbap", "caesar_salad", "chocolate_cake", "dumplings",
                "french_fries", "pizza", "ramen", "sushi"]
IMAGES_PER_CLASS = {"train": 50, "validation": 30}
IMAGE_SIZE = 48  # the files; the model sees 32x32 after the processor's resize (as Food101's 512 px -> 224)
NEW_PHOTO = "new_photo.jpg"
NEW_PHOTO_LABEL = "ramen"

VIT_SIZE = dict(image_size=32, patch_size=8, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                intermediate_size=256, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
PRETRAIN_CLASSES = 16  # hues i/16: mostly other colours than the food classes' i/10
PRETRAIN_IMAGES = 960
PRETRAIN_STEPS = 60
PRETRAIN_BATCH = 48
PRETRAIN_LR = 2e-3


@fixture("food_images", version=1)
def build_food_images(folder: Path) -> None:
    """Food101-shaped images (10 classes; 50 train and 30 validation per class) and one new photo."""
    write_imagefolder(folder, FOOD_CLASSES, IMAGES_PER_CLASS, size=IMAGE_SIZE, seed=101)
    rng = np.random.default_rng(2024)
    photo = draw_example(FOOD_CLASSES.index(NEW_PHOTO_LABEL), len(FOOD_CLASSES), 4 * IMAGE_SIZE, rng)
    photo.save(folder / NEW_PHOTO, quality=90)
    (folder / "README.md").write_text(  # card metadata, but no `configs`: see the module docstring
        "---\npretty_name: food_images\ntask_categories:\n- image-classification\n---\n\n# food_images\n\nSynthetic stand-in for Food101 in `imagefolder` layout: one folder per class under each split "
        f"({', '.join(IMAGES_PER_CLASS)}). Each class has its own colour and shape. `{NEW_PHOTO}` is an extra image of "
        f"class `{NEW_PHOTO_LABEL}` for prediction; `datasets` infers the splits from the folder names and ignores it.\n"
    )


@fixture("tiny_vit", version=2)
def build_tiny_vit(folder: Path) -> None:
    """A tiny ViT backbone (32 px, 8 px patches, width 128, 4 layers) pre-trained for seconds, with its processor."""
    _pretrain_and_save(folder)


def _pretrain_and_save(folder: Path) -> None:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor, ViTModel

    processor = ViTImageProcessor(size={"height": VIT_SIZE["image_size"], "width": VIT_SIZE["image_size"]},
                                  image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    pixels, labels = _pretraining_images(processor)
    torch.manual_seed(0)
    classifier = ViTForImageClassification(ViTConfig(**VIT_SIZE, num_labels=PRETRAIN_CLASSES))
    pretrain(classifier, lambda generator: torch.randint(0, len(labels), (PRETRAIN_BATCH,), generator=generator),
             lambda model, rows: model(pixel_values=pixels[rows], labels=labels[rows]).loss,
             steps=PRETRAIN_STEPS, lr=PRETRAIN_LR, seed=0)
    # Keep the backbone only, with a (fresh) pooler as in the in21k checkpoint, which ships without a head.
    backbone = ViTModel(ViTConfig(**VIT_SIZE))
    missing, unexpected = backbone.load_state_dict(classifier.vit.state_dict(), strict=False)
    assert not unexpected and all(name.startswith("pooler.") for name in missing), (missing, unexpected)
    backbone.save_pretrained(folder)
    processor.save_pretrained(folder)


def _pretraining_images(processor):
    """``(pixel_values, labels)`` of the pre-training task, drawn in memory at the model's size."""
    import torch

    rng = np.random.default_rng(21)
    labels = np.arange(PRETRAIN_IMAGES) % PRETRAIN_CLASSES
    images = [draw_example(int(label), PRETRAIN_CLASSES, IMAGE_SIZE, rng) for label in labels]
    pixel_values = processor(images, return_tensors="pt")["pixel_values"]
    return pixel_values, torch.as_tensor(labels)
