"""Plain text for the language-model experiments: comments with the attribute to unlearn, neutral text,
and the unlabelled reviews of two domains.

Each loader reads through :func:`hwutils.core.data.load_split`, so a Hub id and a fixture folder of the
same layout take the same path (civil_comments' ``text``/``toxicity``, wikitext's ``text``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hwutils.core.data import load_split, require_columns
from hwutils.core.errors import DataError
from hwutils.composition.tasks import quiet_progress


def toxic_texts(settings: Mapping[str, Any], seed: int) -> list[str]:
    """Comments whose score (``toxic_score_column``) is at least ``toxic_threshold``: the module's training
    text; ``toxic_examples`` of them (0 = all), chosen with ``seed``."""
    source, column = settings["toxic_dataset"], settings["toxic_score_column"]
    dataset = load_split(source, settings["toxic_split"], name=settings["toxic_config"] or None)
    require_columns(dataset, ["text", column], source)
    threshold = settings["toxic_threshold"]
    with quiet_progress():
        kept = dataset.filter(lambda batch: [s is not None and s >= threshold and bool(t.strip())
                                             for s, t in zip(batch[column], batch["text"])], batched=True)
    if len(kept) == 0:
        raise DataError(f"no comment of {source!r} has {column} >= {threshold}")
    texts = list(kept["text"])
    n = settings["toxic_examples"]
    if 0 < n < len(texts):
        texts = [texts[i] for i in sorted(np.random.default_rng(seed).choice(len(texts), n, replace=False))]
    return [t.strip() for t in texts]


def neutral_texts(settings: Mapping[str, Any], min_words: int = 5) -> list[str]:
    """The first ``neutral_examples`` lines of neutral text with at least ``min_words`` words (wikitext's
    empty lines and `` = Heading = `` lines are skipped)."""
    source = settings["neutral_dataset"]
    dataset = load_split(source, settings["neutral_split"], name=settings["neutral_config"] or None)
    require_columns(dataset, ["text"], source)
    lines = []
    for text in dataset["text"]:
        text = text.strip()
        if len(text.split()) >= min_words and not text.startswith("="):
            lines.append(text)
            if len(lines) == settings["neutral_examples"]:
                break
    return lines


def text_sample(texts: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` of ``texts`` (all when ``n`` is 0 or larger), chosen with ``seed``, in their original order."""
    texts = list(texts)
    if n <= 0 or n >= len(texts):
        return list(texts)
    return [texts[i] for i in sorted(np.random.default_rng(seed).choice(len(texts), n, replace=False))]
