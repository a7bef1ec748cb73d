"""Dataset loaders, one module per dataset; this module holds what they share.

Every loader goes through :func:`load_split`, so a Hub id and a local folder of data files take
the same path (``datasets.load_dataset``), and a bad source fails with one clear line. Subsets
are seeded and label-balanced (:func:`balanced_subset`) or label-stratified
(:func:`stratified_fraction`), so every method of a notebook sees the same examples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from hwutils.core.errors import DataError
from hwutils.core.sources import check_source, hub_errors, looks_like_path


def load_split(source: str, split: str, **kwargs: Any):
    """``datasets.load_dataset(source, split=split)`` with clear errors for a bad source or split."""
    import datasets

    source = check_source(source, "dataset")
    with hub_errors(source, "dataset"), quiet_when_local(source):
        try:
            return datasets.load_dataset(source, split=split, **kwargs)
        except ValueError as error:
            if "split" in str(error).lower():
                raise DataError(f"dataset {source!r} has no split {split!r}: {error}") from None
            raise


@contextlib.contextmanager
def quiet_when_local(source: str) -> Iterator[None]:
    """No ``datasets`` progress bars while reading a local folder: there is nothing to download, and
    an image folder would print a "Resolving data files" bar per split and call."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    quieten = looks_like_path(source) and not are_progress_bars_disabled()
    if quieten:
        disable_progress_bars()
    try:
        yield
    finally:
        if quieten:
            enable_progress_bars()


def require_columns(dataset, columns: list[str], source: str) -> None:
    """Fail with the available column names when ``dataset`` lacks one of ``columns``."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"dataset {source!r} has no column {', '.join(map(repr, missing))}; "
            f"its columns are {', '.join(dataset.column_names)}"
        )


def label_names(dataset, label_column: str = "label") -> list[str]:
    """Class names from the dataset's ``ClassLabel`` feature."""
    feature = dataset.features[label_column]
    if not hasattr(feature, "names"):
        raise DataError(f"column {label_column!r} is not a ClassLabel, so it has no class names")
    return list(feature.names)


def balanced_subset(dataset, n: int, seed: int, label_column: str = "label"):
    """``n`` examples (0 = all), as equal a number per class as the data allows, seeded and shuffled."""
    if n <= 0 or n >= len(dataset):
        return dataset.shuffle(seed=seed)
    labels = np.asarray(dataset[label_column])
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)).tolist() for c in classes}
    chosen, quota = [], n // len(classes)
    for c in classes:
        chosen += per_class[c][:quota]
    leftovers = [i for c in classes for i in per_class[c][quota:]]
    chosen += rng.permutation(leftovers)[: n - len(chosen)].tolist()
    return dataset.select(rng.permutation(chosen).tolist())


def stratified_fraction(dataset, fraction: float, seed: int, label_column: str = "label"):
    """A seeded ``fraction`` of ``dataset`` with the same label proportions (e.g. 10% of MNLI train)."""
    if not 0 < fraction <= 1:
        raise DataError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return dataset.shuffle(seed=seed)
    labels = np.asarray(dataset[label_column])
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        chosen += members[: max(1, round(fraction * len(members)))].tolist()
    return dataset.select(rng.permutation(chosen).tolist())
