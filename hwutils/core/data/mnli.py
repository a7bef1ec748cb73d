"""MultiNLI (``nyu-mll/multi_nli`` on the Hub; the ``nli_pairs`` fixture offline)."""

from __future__ import annotations

from hwutils.core.data import balanced_subset, load_split, require_columns, stratified_fraction

LABELS = ["entailment", "neutral", "contradiction"]  # the dataset's own label order
SPLITS = ("train", "validation_matched", "validation_mismatched")


def load_mnli(source: str, split: str, fraction: float = 1.0, n: int = 0, seed: int = 0):
    """One split with ``premise``, ``hypothesis``, ``label`` and ``genre``; unlabelled rows dropped.

    ``fraction`` < 1 keeps a seeded, label-stratified share (the assignment's 10% of train);
    ``n`` > 0 keeps a seeded, label-balanced subset of that size instead.
    """
    dataset = load_split(source, split)
    require_columns(dataset, ["premise", "hypothesis", "label"], source)
    dataset = dataset.filter(lambda row: row["label"] >= 0)  # the Hub's test splits carry label -1
    return balanced_subset(dataset, n, seed) if n else stratified_fraction(dataset, fraction, seed)
