"""Stanford Dogs (120 breeds; official split 12,000 train / 8,580 test) with readable breed names.

The class names of Stanford Dogs are ImageNet folder names such as ``n02085620-Chihuahua`` or
``n02099601-golden_retriever``. A text encoder should read *breeds*, so :func:`clean_breed_name`
drops the WordNet id and turns underscores into spaces (``golden retriever``). Hub copies that
already carry clean names pass through unchanged. Offline, the ``stanford_dogs_mini`` fixture has
the same layout (an ``image`` and a ``label`` column whose class names are ImageNet folder names).
"""

from __future__ import annotations

import re

from hwutils.core.data import balanced_subset, label_names, load_split, require_columns
from hwutils.core.errors import DataError

_WORDNET_ID = re.compile(r"^n\d{8}[-_]")


def clean_breed_name(name: str) -> str:
    """``"n02085620-Chihuahua"`` -> ``"Chihuahua"``, ``"n02099601-golden_retriever"`` -> ``"golden retriever"``.

    Only a leading WordNet id (``n`` + 8 digits) is removed, so hyphens inside a breed name stay
    (``"n02086240-Shih-Tzu"`` -> ``"Shih-Tzu"``); clean names are returned unchanged.
    """
    name = _WORDNET_ID.sub("", name.strip())
    return " ".join(name.replace("_", " ").split())


def breed_names(dataset, label_column: str = "label") -> list[str]:
    """The cleaned breed name of every class, in label order."""
    return [clean_breed_name(name) for name in label_names(dataset, label_column)]


def load_stanford_dogs(source: str, split: str, *, image_column: str = "image", label_column: str = "label",
                       expected_size: int = 0, n: int = 0, seed: int = 0):
    """Split ``split`` of Stanford Dogs (a Hub id or a local folder) with an image and a label column.

    ``expected_size`` > 0 checks the split has exactly that many examples (12,000 / 8,580 for the
    official split), so that a Hub copy with a different split fails loudly instead of giving
    numbers that cannot be compared with published ones. ``n`` > 0 keeps a seeded, class-balanced
    subset of that size (for quick runs); ``n = 0`` keeps every example in its original order.
    """
    dataset = load_split(source, split)
    require_columns(dataset, [image_column, label_column], source)
    if expected_size and len(dataset) != expected_size:
        raise DataError(
            f"split {split!r} of {source!r} has {len(dataset):,} examples, but the official Stanford Dogs split has "
            f"{expected_size:,}; point `dataset` at a copy with the official split (or set `expected_{split}_size = 0` "
            "to accept this one)"
        )
    return balanced_subset(dataset, n, seed, label_column) if n > 0 else dataset
