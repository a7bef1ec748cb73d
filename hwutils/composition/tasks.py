"""Tasks as text-to-text problems, their data, and the label-skewed halves of experiment 1.

A classification task becomes text-to-text: a template turns a row into the model's input
(``"review: {sentence}"``) and the label's name is the target (``"positive"``). Because every task
answers with words of one shared vocabulary, modules trained on different tasks can be added with
no task-specific head to reconcile: the reason the paper runs multi-tasking on T5.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwutils.core.data import balanced_subset, label_names, load_split, require_columns
from hwutils.core.errors import DataError


@dataclass(frozen=True)
class TextTask:
    """A classification task read as text-to-text."""

    name: str
    template: str  # e.g. "review: {sentence}"; the fields are dataset columns
    label_words: tuple[str, ...]  # target text of each label id
    label_column: str = "label"

    def source(self, row: Mapping[str, Any]) -> str:
        return self.template.format(**row)

    def target(self, row: Mapping[str, Any]) -> str:
        return self.label_words[row[self.label_column]]

    def columns(self) -> list[str]:
        import string

        return [field for _, field, _, _ in string.Formatter().parse(self.template) if field] + [self.label_column]


def load_task(name: str, source: str, config: str, splits: Sequence[str], template: str,
              sizes: Sequence[int], seed: int) -> tuple[TextTask, list]:
    """``TextTask`` ``name`` and a seeded, label-balanced subset of each of ``splits`` (``sizes[i]``
    examples, 0 = all). Label words are the dataset's class names (``negative``/``positive``)."""
    loaded = [load_split(source, split, name=config or None) for split in splits]
    task = TextTask(name, template, tuple(label_names(loaded[0])))
    for dataset in loaded:
        require_columns(dataset, task.columns(), source)
    with quiet_progress():  # unlabelled rows (label -1, e.g. MultiNLI pairs without a gold label) are dropped
        loaded = [d.filter(lambda batch: [y >= 0 for y in batch[task.label_column]], batched=True) for d in loaded]
    return task, [balanced_subset(d, n, seed + i) for i, (d, n) in enumerate(zip(loaded, sizes))]


def split_off(dataset, n: int, seed: int):
    """``(rest, held_out)``: ``n`` label-balanced examples held out of ``dataset`` (e.g. a validation set
    carved from training data when the test split is the dataset's validation split, as for GLUE)."""
    held_out = balanced_subset(dataset, n, seed)
    chosen = set(held_out["idx"] if "idx" in held_out.column_names else [])
    if chosen:
        keep = [i for i, idx in enumerate(dataset["idx"]) if idx not in chosen]
    else:  # without an id column, hold out by position
        order = np.random.default_rng(seed).permutation(len(dataset))
        held_out = dataset.select(order[:n].tolist())
        keep = sorted(order[n:].tolist())
    return dataset.select(keep), held_out


def skewed_halves(dataset, skew_label: int, share: float, seed: int, label_column: str = "label"):
    """Two halves of equal size whose label distributions differ, as the paper splits GLUE tasks:
    the first half receives ``share`` of the examples of class ``skew_label`` (e.g. 80% of the
    negatives), the second the rest; other classes fill both halves up to half the data each."""
    if not 0.5 <= share <= 1:
        raise DataError(f"share must be in [0.5, 1], got {share}")
    labels = np.asarray(dataset[label_column])
    rng = np.random.default_rng(seed)
    skewed = rng.permutation(np.flatnonzero(labels == skew_label)).tolist()
    others = rng.permutation(np.flatnonzero(labels != skew_label)).tolist()
    half = len(labels) // 2
    to_first = min(round(share * len(skewed)), half)
    first = skewed[:to_first] + others[:half - to_first]
    second = skewed[to_first:] + others[half - to_first:]
    return dataset.select(rng.permutation(first).tolist()), dataset.select(rng.permutation(second).tolist())


def label_shares(dataset, label_column: str = "label") -> list[float]:
    """Share of each class in ``dataset``, in class-id order."""
    labels = np.asarray(dataset[label_column])
    return [float(np.mean(labels == c)) for c in range(int(labels.max()) + 1)]


def seq2seq_features(dataset, task: TextTask, tokenizer, max_length: int, max_target_length: int = 8):
    """``input_ids``/``attention_mask`` of each source and ``labels`` of its target, ready for training."""
    def encode(batch):
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        encoded = tokenizer([task.source(r) for r in rows], truncation=True, max_length=max_length)
        encoded["labels"] = tokenizer([task.target(r) for r in rows], truncation=True, max_length=max_target_length)["input_ids"]
        return encoded

    with quiet_progress():  # a few seconds at most: no bar (it would be a widget in every exported notebook)
        return dataset.map(encode, batched=True, remove_columns=dataset.column_names)


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """No ``datasets`` progress bars inside the block (restored afterwards)."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


def prefix_lm_features(texts: Sequence[str], tokenizer, max_length: int, seed: int):
    """The text-to-text language-modelling objective of the analogy experiment (T5's "prefix LM"):
    the start of each text is the input and its continuation, cut at a seeded random word, the target."""
    import datasets

    rng = random.Random(seed)
    sources, targets = [], []
    for text in texts:
        words = text.split()
        cut = rng.randint(1, max(1, len(words) - 1))
        sources.append(" ".join(words[:cut]))
        targets.append(" ".join(words[cut:]))
    encoded = tokenizer(sources, truncation=True, max_length=max_length)
    encoded["labels"] = tokenizer(targets, truncation=True, max_length=max_length)["input_ids"]
    return datasets.Dataset.from_dict(dict(encoded))


def causal_lm_features(texts: Sequence[str], tokenizer, max_length: int):
    """Each text as one training sequence, ``<|endoftext|>`` first (as GPT-2 saw documents start)."""
    import datasets

    bos = tokenizer.bos_token or tokenizer.eos_token
    encoded = tokenizer([bos + t for t in texts], truncation=True, max_length=max_length)
    return datasets.Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})


def task_from_settings(settings: Mapping[str, Any], prefix: str, name: str, seed: int) -> tuple[TextTask, dict]:
    """Task ``name`` from the settings ``<prefix>_dataset``, ``_config``, ``_train_split``, ``_test_split``,
    ``_template`` and ``<prefix>_train_examples``: its ``train``, ``validation`` (held out of the training
    split, ``validation_examples``) and ``test`` (``test_examples``) sets, each label-balanced and seeded."""
    task, (train, test) = load_task(name, settings[f"{prefix}_dataset"], settings[f"{prefix}_config"],
                                    [settings[f"{prefix}_train_split"], settings[f"{prefix}_test_split"]],
                                    settings[f"{prefix}_template"], [0, settings["test_examples"]], seed)
    train, validation = split_off(train, settings["validation_examples"], seed)
    return task, {"train": balanced_subset(train, settings[f"{prefix}_train_examples"], seed), "validation": validation,
                  "test": test}


def target_domain_sets(settings: Mapping[str, Any], task: TextTask, seed: int) -> dict:
    """The analogy's target domain read as ``task`` (same template and label words): the target
    dataset's text column renamed to the template's field; ``validation`` (only for choosing λ) held out
    of its training split, ``test`` from its test split, and ``lm_texts``, unlabelled texts of the rest."""
    source, column = settings["target_dataset"], settings["target_text_column"]
    field = task.columns()[0]
    splits = []
    for split in (settings["target_train_split"], settings["target_test_split"]):
        dataset = load_split(source, split, name=settings["target_config"] or None)
        require_columns(dataset, [column, task.label_column], source)
        splits.append(dataset.rename_column(column, field) if column != field else dataset)
    rest, validation = split_off(splits[0], settings["target_validation_examples"], seed)
    lm_texts = balanced_subset(rest, settings["lm_examples"], seed)[field]
    return {"validation": validation, "test": balanced_subset(splits[1], settings["target_test_examples"], seed),
            "lm_texts": list(lm_texts)}
