"""Text-to-text tasks, the label-skewed halves, and the text loaders of the language-model experiments."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from hwutils.composition import corpora, tasks
from hwutils.core.errors import DataError
from tests.composition.helpers import tiny_tokenizer

FEATURES = datasets.Features({"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"]),
                              "idx": datasets.Value("int32")})


def labelled(n: int, negative_share: float = 0.5):
    negatives = int(n * negative_share)
    labels = [0] * negatives + [1] * (n - negatives)
    return datasets.Dataset.from_dict({"sentence": [f"review number {i}" for i in range(n)], "label": labels,
                                       "idx": list(range(n))}, features=FEATURES)


def test_skewed_halves_split_one_class_unevenly_into_equal_halves():
    data = labelled(1000)
    first, second = tasks.skewed_halves(data, skew_label=0, share=0.8, seed=0)
    assert len(first) == len(second) == 500
    assert tasks.label_shares(first) == pytest.approx([0.8, 0.2])
    assert tasks.label_shares(second) == pytest.approx([0.2, 0.8])
    assert not set(first["idx"]) & set(second["idx"]), "the halves must not share examples"
    assert sorted(list(first["idx"]) + list(second["idx"])) == list(range(1000))
    again = tasks.skewed_halves(data, skew_label=0, share=0.8, seed=0)
    assert list(again[0]["idx"]) == list(first["idx"]), "seeded"
    with pytest.raises(DataError):
        tasks.skewed_halves(data, 0, 0.3, 0)


def test_split_off_holds_out_a_balanced_disjoint_set():
    data = labelled(400, negative_share=0.7)
    rest, held_out = tasks.split_off(data, 100, seed=1)
    assert len(held_out) == 100 and len(rest) == 300
    assert tasks.label_shares(held_out) == pytest.approx([0.5, 0.5])
    assert not set(rest["idx"]) & set(held_out["idx"])


def test_text_task_and_seq2seq_features():
    task = tasks.TextTask("nli", "premise: {premise} hypothesis: {hypothesis}", ("entailment", "neutral", "contradiction"))
    row = {"premise": "A", "hypothesis": "B", "label": 2}
    assert task.source(row) == "premise: A hypothesis: B" and task.target(row) == "contradiction"
    assert task.columns() == ["premise", "hypothesis", "label"]
    tokenizer = tiny_tokenizer()
    review = tasks.TextTask("sentiment", "review: {sentence}", ("negative", "positive"))
    encoded = tasks.seq2seq_features(labelled(4), review, tokenizer, max_length=8)
    assert encoded.column_names == ["input_ids", "attention_mask", "labels"]
    assert encoded[0]["labels"] == tokenizer("negative").input_ids
    assert all(len(ids) <= 8 for ids in encoded["input_ids"])


def test_prefix_lm_and_causal_lm_features():
    tokenizer = tiny_tokenizer()
    pairs = tasks.prefix_lm_features(["the plot was great", "a lovely ending"], tokenizer, 16, seed=0)
    for source, target, text in zip(pairs["input_ids"], pairs["labels"], ["the plot was great", "a lovely ending"]):
        joined = tokenizer.decode(source, skip_special_tokens=True) + " " + tokenizer.decode(target, skip_special_tokens=True)
        assert joined.split() == text.split(), "input and target are the two parts of the text"
    from transformers import PreTrainedTokenizerFast

    from hwutils.composition.fixtures import byte_level_tokenizer

    lm_tokenizer: PreTrainedTokenizerFast = byte_level_tokenizer(["you are a fool", "the mill"], 300, ["<|endoftext|>"],
                                                                 bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    causal = tasks.causal_lm_features(["the mill"], lm_tokenizer, 16)
    assert causal[0]["input_ids"][0] == lm_tokenizer.bos_token_id


def write(tmp_path, name, rows):
    from hwutils.core.fixtures import write_dataset_splits

    folder = tmp_path / name
    folder.mkdir()
    write_dataset_splits(folder, {split: datasets.Dataset.from_dict(r) for split, r in rows.items()})
    return str(folder)


def test_toxic_texts_keep_comments_above_the_threshold(tmp_path):
    source = write(tmp_path, "comments", {"train": {"text": ["a", "b", "c", " ", "e"], "toxicity": [0.9, 0.1, 0.8, 0.95, 0.79]}})
    settings = {"toxic_dataset": source, "toxic_split": "train", "toxic_config": "", "toxic_score_column": "toxicity",
                "toxic_threshold": 0.8, "toxic_examples": 0}
    assert corpora.toxic_texts(settings, seed=0) == ["a", "c"]
    assert len(corpora.toxic_texts({**settings, "toxic_examples": 1}, seed=0)) == 1
    with pytest.raises(DataError, match="no comment"):
        corpora.toxic_texts({**settings, "toxic_threshold": 0.99}, seed=0)


def test_neutral_texts_skip_headings_empty_and_short_lines(tmp_path):
    rows = ["", " = A Rather Long Heading Of The Article = ", "too short", "The old mill was built in the twelfth century .", "Another line of plain neutral text here ."]
    source = write(tmp_path, "wiki", {"test": {"text": rows}})
    settings = {"neutral_dataset": source, "neutral_split": "test", "neutral_config": "", "neutral_examples": 1}
    assert corpora.neutral_texts(settings) == ["The old mill was built in the twelfth century ."]
    assert len(corpora.neutral_texts({**settings, "neutral_examples": 5})) == 2
    assert corpora.text_sample(["a", "b", "c"], 2, seed=0) == sorted(corpora.text_sample(["a", "b", "c"], 2, seed=0),
                                                                      key=["a", "b", "c"].index)
    assert corpora.text_sample(["a", "b"], 0, seed=0) == ["a", "b"]


def test_target_domain_sets_read_the_target_as_the_source_task(tmp_path):
    from datasets import ClassLabel, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["1", "2"])})
    folder = tmp_path / "target"
    folder.mkdir()
    from hwutils.core.fixtures import write_dataset_splits

    rows = lambda n: datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(n)], "label": [i % 2 for i in range(n)]}, features=features)
    write_dataset_splits(folder, {"train": rows(40), "test": rows(20)})
    review = tasks.TextTask("sentiment", "review: {sentence}", ("negative", "positive"))
    settings = {"target_dataset": str(folder), "target_text_column": "text", "target_config": "", "target_train_split": "train",
                "target_test_split": "test", "target_validation_examples": 10, "lm_examples": 0, "target_test_examples": 0}
    sets = tasks.target_domain_sets(settings, review, seed=0)
    assert len(sets["validation"]) == 10 and len(sets["lm_texts"]) == 30 and len(sets["test"]) == 20
    assert not set(sets["lm_texts"]) & set(sets["validation"]["sentence"]), "LM texts never include the λ-choosing set"
    assert review.target(sets["test"][0]) in ("negative", "positive")
    assert np.isin(sets["test"]["label"], [0, 1]).all()


def test_load_task_drops_unlabelled_rows_and_balances(tmp_path):
    rows = {"sentence": [f"s{i}" for i in range(12)], "label": [0, 1, -1] * 4}
    folder = tmp_path / "task"
    folder.mkdir()
    from hwutils.core.fixtures import write_dataset_splits

    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    write_dataset_splits(folder, {"train": datasets.Dataset.from_dict(rows, features=features)})
    task, (train,) = tasks.load_task("sentiment", str(folder), "", ["train"], "review: {sentence}", [0], seed=0)
    assert task.label_words == ("negative", "positive")
    assert len(train) == 8 and set(train["label"]) == {0, 1}
