"""CIFAR-10 (``uoft-cs/cifar10`` on the Hub; the ``moco_shapes`` fixture offline) as tensors in memory.

Both sources have an ``img`` image column, a ``label`` ``ClassLabel`` column and the splits
``train`` and ``test``. CIFAR-10's 60,000 images of 32x32 pixels take 184 MB as ``uint8``, so they
are decoded once into one tensor; the augmentations then work on tensors (:mod:`hwutils.moco.augment`).
MoCo pre-trains on ``train`` without its labels; the labels of ``train`` are used only by the
evaluations (the kNN classifier's memory and the linear probe's training set), and ``test`` is
what they are scored on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hwutils.core.data import balanced_subset, label_names, load_split, require_columns
from hwutils.core.errors import DataError
from hwutils.core.progress import progress


@dataclass
class ImageSet:
    """Images as one ``uint8`` tensor (N x 3 x H x W), their labels, and the class names."""

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> "ImageSet":
        return ImageSet(self.images[indices], self.labels[indices], self.names)


def to_tensor(images) -> torch.Tensor:
    """PIL images (any mode) as one ``uint8`` tensor N x 3 x H x W."""
    arrays = [np.asarray(image.convert("RGB"), dtype=np.uint8) for image in progress(images, desc="decoding", leave=False)]
    if len({a.shape for a in arrays}) > 1:
        raise DataError(f"images of several sizes ({sorted({a.shape for a in arrays})[:3]} ...); this loader expects one size")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def load_images(source: str, split: str, *, examples: int, seed: int, image_column: str = "img",
                label_column: str = "label") -> ImageSet:
    """``examples`` images of ``split`` (a seeded, class-balanced subset; 0 = all) as an :class:`ImageSet`."""
    dataset = load_split(source, split)
    require_columns(dataset, [image_column, label_column], source)
    names = label_names(dataset, label_column)
    if examples > 0:
        dataset = balanced_subset(dataset, examples, seed, label_column)
    images = to_tensor(dataset[image_column])
    return ImageSet(images, torch.as_tensor(dataset[label_column], dtype=torch.long), names)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of ``uint8`` images, on the 0..1 scale (what
    ``Normalize`` needs; computed from the pre-training images, as CIFAR-10's usual constants are)."""
    pixels = images.float().div(255).transpose(0, 1).reshape(3, -1)
    return tuple(pixels.mean(dim=1).tolist()), tuple(pixels.std(dim=1).tolist())
