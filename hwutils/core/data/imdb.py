"""IMDB movie-review sentiment (``imdb`` on the Hub; the ``sentiment_reviews`` fixture offline)."""

from __future__ import annotations

from hwutils.core.data import balanced_subset, load_split, require_columns


def load_imdb(source: str, split: str, n: int = 0, seed: int = 0):
    """Split ``split`` (``train``/``test``) with ``text`` and ``label`` (0=neg, 1=pos); ``n`` > 0 keeps a
    seeded, class-balanced subset of that size."""
    dataset = load_split(source, split)
    require_columns(dataset, ["text", "label"], source)
    return balanced_subset(dataset, n, seed)
