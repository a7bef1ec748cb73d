"""The Persian sentiment dataset: read, labelled, normalised, subset.

The full profile reads the SnappFood comments from the Hub (``comment``; ``label`` as the strings
``HAPPY``/``SAD``), the smoke profile a fixture in the same layout. :func:`load_sentiment` maps
the label strings to class ids in the order of the ``label_values`` setting (so the id does not
depend on a column whose convention the card does not state), drops rows with any other label,
and normalises every comment (:func:`hwutils.persian.text.normalise`), counting what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hwutils.core.data import balanced_subset, load_split, quiet_when_local, require_columns
from hwutils.core.errors import DataError
from hwutils.persian.text import normalise


@dataclass(frozen=True)
class LoadedSplit:
    """A split with ``text`` and integer ``label`` columns, and what loading it changed."""

    dataset: Any
    rows_read: int
    rows_dropped: int  # label not among label_values (missing or unknown)
    texts_normalised: int  # comments in which an Arabic ي/ك (or a ZWNJ run) was replaced


def load_sentiment(source: str, split: str, text_column: str, label_column: str,
                   label_values: Sequence[str]) -> LoadedSplit:
    """``split`` of ``source`` with ``text`` (normalised) and ``label`` (the index of the row's label
    in ``label_values``) columns."""
    raw = load_split(source, split)
    require_columns(raw, [text_column, label_column], source)
    ids = {str(value): i for i, value in enumerate(label_values)}
    with quiet_when_local(source):
        kept = raw.filter(lambda row: str(row[label_column]) in ids and bool(row[text_column]))
        if len(kept) == 0:
            found = sorted({str(v) for v in raw[label_column][:1000] if v is not None})
            raise DataError(f"no row of {source!r} [{split}] has a label among {list(label_values)}; "
                            f"labels found: {found[:10]}")
        texts = [str(t) for t in kept[text_column]]
        normalised = [normalise(t) for t in texts]
        dataset = kept.map(lambda row, i: {"text": normalised[i], "label": ids[str(row[label_column])]},
                           with_indices=True, remove_columns=kept.column_names)
    return LoadedSplit(dataset, len(raw), len(raw) - len(kept), sum(a != b for a, b in zip(texts, normalised)))


def subset(split: LoadedSplit, n: int, seed: int):
    """``n`` examples of the split (0 = all), label-balanced and seeded (:func:`hwutils.core.data.balanced_subset`)."""
    return balanced_subset(split.dataset, n, seed)


def truncate(tokenizer: Any, text: str, max_tokens: int) -> str:
    """``text`` cut after its first ``max_tokens`` tokens (at a character boundary, via the
    tokenizer's offsets), so every method sees the same, bounded comment."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if len(encoded["input_ids"]) <= max_tokens:
        return text
    return text[:encoded["offset_mapping"][max_tokens - 1][1]]


def truncated(dataset, tokenizer: Any, max_tokens: int) -> tuple[Any, int]:
    """``dataset`` with every ``text`` cut to ``max_tokens`` tokens, and how many were cut."""
    from datasets.utils import disable_progress_bars, enable_progress_bars, are_progress_bars_disabled

    texts = [truncate(tokenizer, t, max_tokens) for t in dataset["text"]]
    changed = sum(a != b for a, b in zip(texts, dataset["text"]))
    quiet = not are_progress_bars_disabled()
    if quiet:  # an in-memory edit: a progress bar would only add noise to the notebook
        disable_progress_bars()
    try:
        return dataset.map(lambda row, i: {"text": texts[i]}, with_indices=True), changed
    finally:
        if quiet:
            enable_progress_bars()
