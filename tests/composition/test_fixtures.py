"""The smoke fixtures of notebook 07: real signal, the documented difficulty, and loadable models."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from hwutils.composition import fixtures
from hwutils.core.data import load_split
from hwutils.core.fixtures import fixture_path


def polarities(text: str, domain: str) -> list[int]:
    words = fixtures.DOMAINS[domain]
    positive = set(fixtures.SHARED_POSITIVE + words["positive"])
    negative = set(fixtures.SHARED_NEGATIVE + words["negative"])
    tokens = re.findall(r"[a-z]+", text.lower())
    return [1 if t in positive else 0 for t in tokens if t in positive | negative]


@pytest.mark.parametrize("domain", ["movies", "restaurants"])
def test_a_reviews_label_is_the_majority_of_its_three_opinions(domain):
    rng = random.Random(0)
    for label in (0, 1) * 50:
        found = polarities(fixtures.review(label, domain, rng), domain)
        assert len(found) == 3 and (sum(found) >= 2) == bool(label)


def test_no_single_opinion_word_decides_the_sentiment_label():
    """Half the reviews are close calls, so the first opinion word agrees with the label only ~5 times in 6."""
    texts, labels = fixtures.review_rows(2000, "movies", seed=5)
    first_word = np.array([polarities(t, "movies")[0] for t in texts])
    agreement = float(np.mean(first_word == np.array(labels)))
    assert 0.75 < agreement < 0.9
    close = np.mean([sum(polarities(t, "movies")) in (1, 2) for t in texts])
    assert abs(close - fixtures.CLOSE_CALL_SHARE) < 0.05


def test_training_labels_carry_the_documented_noise_and_test_labels_none():
    texts, noisy = fixtures.review_rows(3000, "movies", seed=7, label_noise=fixtures.TRAIN_LABEL_NOISE)
    truth = [int(sum(polarities(t, "movies")) >= 2) for t in texts]
    assert abs(np.mean(np.array(noisy) != np.array(truth)) - fixtures.TRAIN_LABEL_NOISE) < 0.015
    texts, clean = fixtures.review_rows(500, "movies", seed=8)
    assert clean == [int(sum(polarities(t, "movies")) >= 2) for t in texts]


def test_comments_are_a_quarter_rude_and_scored_like_civil_comments():
    texts, scores = fixtures.comment_rows(2000, seed=3)
    rude = np.array([any(w in t for w in fixtures.INSULTS) for t in texts])
    scores = np.array(scores)
    assert abs(rude.mean() - fixtures.RUDE_SHARE) < 0.03
    assert (scores[rude] >= 0.8).all() and (scores[~rude] <= 0.2).all()


def test_dataset_fixtures_have_the_real_layouts():
    sentiment = load_split(str(fixture_path("pem_sentiment")), "validation")
    assert sentiment.column_names == ["sentence", "label", "idx"] and sentiment.features["label"].names == ["negative", "positive"]
    assert load_split(str(fixture_path("pem_restaurants")), "test").column_names == ["label", "title", "content"]
    assert load_split(str(fixture_path("pem_comments")), "train").column_names == ["text", "toxicity"]
    assert load_split(str(fixture_path("pem_neutral_text")), "test").column_names == ["text"]


def test_the_toxicity_judge_separates_rude_from_neutral_comments():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hwutils.composition.evaluation import attribute_probabilities

    folder = str(fixture_path("pem_toxicity_classifier"))
    judge = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    texts, scores = fixtures.comment_rows(300, seed=99)  # comments it was not trained on
    p = attribute_probabilities(judge, AutoTokenizer.from_pretrained(folder), texts, "toxicity", batch_size=100, max_length=64)
    assert np.mean((p >= 0.5) == (np.array(scores) >= 0.5)) > 0.95


def test_the_tiny_models_load_as_their_hub_counterparts_do():
    from transformers import AutoModelForCausalLM, AutoTokenizer, T5ForConditionalGeneration

    t5_folder, gpt2_folder = str(fixture_path("pem_t5_tiny")), str(fixture_path("pem_gpt2_tiny"))
    t5, t5_tokenizer = T5ForConditionalGeneration.from_pretrained(t5_folder), AutoTokenizer.from_pretrained(t5_folder)
    assert t5_tokenizer("positive").input_ids[-1] == t5_tokenizer.eos_token_id == 1
    assert t5.config.vocab_size >= len(t5_tokenizer)
    gpt2, gpt2_tokenizer = AutoModelForCausalLM.from_pretrained(gpt2_folder), AutoTokenizer.from_pretrained(gpt2_folder)
    assert gpt2.config.model_type == "gpt2" and gpt2_tokenizer.bos_token == gpt2_tokenizer.eos_token == "<|endoftext|>"


def test_dataset_builders_are_deterministic(tmp_path):
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        fixtures.build_pem_sentiment(tmp_path / run)
    first = sorted(p.name for p in (tmp_path / "first").iterdir())
    assert first == sorted(p.name for p in (tmp_path / "second").iterdir())  # names carry a digest of the content
