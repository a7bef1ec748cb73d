"""Food101 (``ethz/food101`` on the Hub; the ``food_images`` fixture offline, in ``imagefolder`` layout).

Both sources have an ``image`` column (PIL images) and a ``label`` ``ClassLabel`` column, and the
splits ``train`` and ``validation``. Food101 has no test split, so the usual protocol is: train on
(a subset of) ``train``, hold a stratified slice of it out as *our* validation split (model
selection during training), and report the final number once on the official ``validation``
split, which therefore plays the part of the *test* split here and is never seen before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwutils.core.data import balanced_subset, label_names, load_split, require_columns
from hwutils.core.errors import DataError


@dataclass
class ImageClassificationData:
    """Three splits and the label names, mapped both ways (ids are the ``ClassLabel`` indices)."""

    train: Any  # datasets.Dataset: fine-tuning examples
    validation: Any  # held out from train: evaluated every epoch, picks the best checkpoint
    test: Any  # Food101's official validation split: the final number, measured once
    names: list[str]

    @property
    def id2label(self) -> dict[int, str]:
        return label_maps(self.names)[0]

    @property
    def label2id(self) -> dict[str, int]:
        return label_maps(self.names)[1]

    @property
    def num_labels(self) -> int:
        return len(self.names)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def label_maps(names: list[str]) -> tuple[dict[int, str], dict[str, int]]:
    """``(id2label, label2id)`` for class ``names`` in id order (what a model's config stores)."""
    if len(set(names)) != len(names):
        raise DataError(f"class names must be unique, got {names}")
    return dict(enumerate(names)), {name: index for index, name in enumerate(names)}


def load_food101(source: str, *, train_examples: int, validation_fraction: float, test_examples: int, seed: int,
                 train_split: str = "train", test_split: str = "validation") -> ImageClassificationData:
    """Seeded, class-balanced subsets of Food101 (or any image folder with ``image``/``label``).

    ``train_examples`` images (0 = all) are drawn from ``train_split`` and split, stratified by
    label, into ``1 - validation_fraction`` for training and ``validation_fraction`` for per-epoch evaluation;
    ``test_examples`` (0 = all) come from ``test_split``. Images stay undecoded until a transform
    reads them (``datasets`` decodes lazily), so large subsets cost little memory.
    """
    if not 0 < validation_fraction < 1:
        raise DataError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    train_pool = load_split(source, train_split)
    test_pool = load_split(source, test_split)
    for dataset in (train_pool, test_pool):
        require_columns(dataset, ["image", "label"], source)
    names = label_names(train_pool)
    if label_names(test_pool) != names:
        raise DataError(f"dataset {source!r}: splits {train_split!r} and {test_split!r} have different classes")
    chosen = balanced_subset(train_pool, train_examples, seed)
    parts = chosen.train_test_split(test_size=validation_fraction, stratify_by_column="label", seed=seed)
    test = balanced_subset(test_pool, test_examples, seed)
    return ImageClassificationData(train=parts["train"], validation=parts["test"], test=test, names=names)
