"""The smoke fixtures: comments whose sentiment no single word decides, and a tiny Persian LM in Qwen's shape."""

from __future__ import annotations

import random

import numpy as np

from hwutils.persian import classification, data, fixtures, reasoning
from hwutils.persian.arithmetic import generate_problems
from hwutils.persian.text import ZWNJ


def test_comments_follow_the_clause_after_but_and_no_single_word_decides(smoke_settings):
    rng = random.Random(0)
    for label in (0, 1):
        for _ in range(50):
            comment, _ = fixtures.food_comment(label, rng)
            sentences = [s for s in comment.split(".") if s.strip()]
            decisive = next((s.split(" ولی ")[-1] for s in sentences if " ولی " in s), None)
            if decisive:
                positive = any(w in decisive.split() for w in fixtures.POSITIVE)
                assert positive == (label == 1), comment
    train = data.load_sentiment(smoke_settings.dataset, "train", "comment", "label", ["SAD", "HAPPY"]).dataset
    test = data.load_sentiment(smoke_settings.dataset, "test", "comment", "label", ["SAD", "HAPPY"]).dataset
    rule = classification.best_single_word_rule(train["text"], train["label"], test["text"], test["label"])
    assert rule["test_accuracy"] < 0.65
    assert abs(np.mean(test["label"]) - 0.5) < 0.01


def test_the_dataset_has_the_hubs_layout_and_some_arabic_letters_to_normalise(smoke_settings):
    split = data.load_sentiment(smoke_settings.dataset, "train", "comment", "label", ["SAD", "HAPPY"])
    assert split.rows_read == 2000 and split.rows_dropped == 0 and 20 < split.texts_normalised < 250


def test_pretraining_documents_use_the_notebooks_formats_but_not_its_instruction(smoke_settings):
    sentiment, arithmetic = fixtures.pretraining_documents(0)
    assert not any(smoke_settings.instruction in d for d in sentiment)
    assert all(any(d.startswith(i) for i, _ in fixtures.PRETRAINING_TASKS.values()) or "نظر:" not in d for d in sentiment)
    assert any(reasoning.STEP_BY_STEP in d for d in arithmetic) and any(reasoning.COT_CUE in d for d in arithmetic)
    problem = generate_problems(1, seed=11, **fixtures.ARITHMETIC)[0]
    assert fixtures.arithmetic_document(problem, random.Random(1)) in {
        reasoning.solved(problem, with_chain=False), reasoning.solved(problem, with_chain=True),
        reasoning.solved(problem, with_chain=True, step_by_step=True)}


def test_the_tokenizer_covers_persian_splits_digits_and_keeps_zwnj(tiny_lm):
    model, tokenizer = tiny_lm
    sample = "علی ۱۲۳ سیب و ١٢ مداد می" + ZWNJ + "خرد؛ 45 تومان."
    ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == sample
    assert [tokenizer.decode([i]) for i in tokenizer("۱۲۳", add_special_tokens=False)["input_ids"]] == ["۱", "۲", "۳"]
    assert tokenizer("سلام")["input_ids"] == tokenizer("سلام", add_special_tokens=False)["input_ids"]  # no BOS, as Qwen
    assert model.config.model_type == "qwen2" and model.config.tie_word_embeddings
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == model.generation_config.eos_token_id
