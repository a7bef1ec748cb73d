"""The smoke profile's stand-in for CIFAR-10: small images whose class is a shape or a texture.

``moco_shapes`` is saved as CIFAR-10 is on the Hub: one parquet file per split (``train``,
``test``) with an ``img`` image column and a ``label`` ``ClassLabel`` column, read by
``datasets.load_dataset``, so the notebook's CIFAR-10 loader is the code that reads it.

Each image is one shape or texture (:data:`CLASSES`) in one colour of a four-colour palette on a
background of another, slightly shifted, at a random position and size, with pixel noise. The colours
are drawn independently of the class, so colour carries no class information: a nearest-neighbour
lookup on an image's mean colour is near chance (``tests/moco/test_fixtures.py`` measures it), and
MoCo's colour jitter and grayscale augmentations push the encoder towards the signal that is left,
the outline. The palette is small on purpose: with fully random colours, colour alone tells the
images apart, and instance discrimination learns colour instead of shape. How hard it is (six
classes, chance 17%): mean colour with a kNN classifier gets about 26%, a randomly initialised
encoder's features about 27% (they mostly encode colour), and a couple of hundred MoCo steps on a
CPU lift that clearly. Raw pixels with a kNN classifier get about 47%: at 16 pixels, images of one
shape in the same two colours are near copies of each other, a shortcut a few hundred steps of
MoCo do not overtake (on CIFAR-10, MoCo's features beat raw pixels by far).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hwutils.core.fixtures import fixture, write_dataset_splits

CLASSES = ("disc", "square", "triangle", "cross", "stripes", "checker")
IMAGE_SIZE = 16  # pixels per side (CIFAR-10: 32)
IMAGES_PER_CLASS = {"train": 64, "test": 32}
OVERSAMPLE = 4  # shapes are drawn at 4x the size and downsampled: smooth (anti-aliased) edges
PALETTE = np.array([(220, 60, 50), (40, 170, 70), (50, 90, 220), (235, 200, 40)])  # red, green, blue, yellow


def random_colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A (shape, background) pair of two different palette colours, each shifted a little, drawn
    independently of the class. A small palette makes many images share their colours, so colour
    tells neither the class nor (much of) which image it is: MoCo has to look at the outline."""
    shape, background = rng.choice(len(PALETTE), size=2, replace=False)
    shift = rng.integers(-15, 16, size=(2, 3))
    return (tuple(int(c) for c in np.clip(PALETTE[shape] + shift[0], 0, 255)),
            tuple(int(c) for c in np.clip(PALETTE[background] + shift[1], 0, 255)))


def draw_shape(name: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One ``size`` x ``size`` RGB image of class ``name``."""
    big = size * OVERSAMPLE
    colour, background = random_colours(rng)
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    extent = int(big * rng.uniform(0.6, 0.8))
    x0, y0 = (int(v) for v in rng.integers(0, big - extent + 1, size=2))
    x1, y1 = x0 + extent, y0 + extent
    third = extent // 3
    if name == "disc":
        draw.ellipse((x0, y0, x1, y1), fill=colour)
    elif name == "square":
        inset = extent // 8  # about the disc's area, so size does not tell them apart
        draw.rectangle((x0 + inset, y0 + inset, x1 - inset, y1 - inset), fill=colour)
    elif name == "triangle":
        draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour)
    elif name == "cross":
        draw.rectangle((x0 + third, y0, x1 - third, y1), fill=colour)
        draw.rectangle((x0, y0 + third, x1, y1 - third), fill=colour)
    elif name == "stripes":  # three bars, vertical or horizontal
        bar, vertical = extent // 5, rng.random() < 0.5
        for i in range(3):
            start = (x0 if vertical else y0) + 2 * i * bar
            box = (start, y0, start + bar, y1) if vertical else (x0, start, x1, start + bar)
            draw.rectangle(box, fill=colour)
    elif name == "checker":  # a 4 x 4 checkerboard
        cell = extent // 4
        for i in range(4):
            for j in range(4):
                if (i + j) % 2 == 0:
                    draw.rectangle((x0 + i * cell, y0 + j * cell, x0 + (i + 1) * cell - 1, y0 + (j + 1) * cell - 1), fill=colour)
    else:
        raise ValueError(f"unknown shape {name!r}; shapes: {', '.join(CLASSES)}")
    small = np.asarray(image.resize((size, size), Image.BOX), dtype=np.float64)
    noisy = small + rng.normal(0, 8, size=small.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def shape_images(per_class: int, size: int, seed: int) -> tuple[list[Image.Image], list[int]]:
    """``per_class`` images of every class, classes interleaved, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    labels = [c for _ in range(per_class) for c in range(len(CLASSES))]
    return [draw_shape(CLASSES[c], size, rng) for c in labels], labels


@fixture("moco_shapes", version=4)
def build_moco_shapes(folder: Path) -> None:
    """CIFAR-10-shaped parquet splits (``img``, ``label``) of shapes and textures in random colours."""
    import datasets

    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))})
    splits = {}
    for offset, (split, per_class) in enumerate(IMAGES_PER_CLASS.items()):
        images, labels = shape_images(per_class, IMAGE_SIZE, seed=808 + offset)
        splits[split] = datasets.Dataset.from_dict({"img": images, "label": labels}, features=features)
    write_dataset_splits(folder, splits, description=(
        "Stand-in for CIFAR-10 (`uoft-cs/cifar10`): the class is the shape or texture "
        f"({', '.join(CLASSES)}); colours, position, size and noise are random. Built by hwutils.moco.fixtures."))
