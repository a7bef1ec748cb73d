"""The dialogue corpus of the character-level language model (notebook 06)."""

from __future__ import annotations

from hwutils.core.data import load_split, require_columns
from hwutils.core.errors import DataError


def load_dialogue_corpus(source: str, text_column: str = "text", split: str = "train", max_chars: int = 0) -> str:
    """One string of utterances, one per line, from the ``text_column`` of a dataset.

    ``source`` is a Hub id (full profile: a Friends transcript dataset) or a local folder of data
    files; ``max_chars`` > 0 keeps only the first characters (handy for a quick full-profile run).
    """
    dataset = load_split(source, split)
    require_columns(dataset, [text_column], source)
    lines = [str(t).strip() for t in dataset[text_column] if t is not None and str(t).strip()]
    corpus = "\n".join(lines) + "\n"
    if max_chars > 0:
        corpus = corpus[:max_chars]
    if len(corpus.strip()) == 0:
        raise DataError(f"dataset {source!r} has no text in column {text_column!r}")
    return corpus
