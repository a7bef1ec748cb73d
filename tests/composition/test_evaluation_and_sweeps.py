"""Scoring modules (label likelihoods, perplexity, sampling, an attribute classifier) and λ sweeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwutils.composition import evaluation, sweeps
from hwutils.core.precision import Precision, choose_precision
from tests.composition.helpers import random_gpt2, random_t5, tiny_tokenizer

FLOAT32 = choose_precision("cpu", "float32")


def test_label_log_likelihoods_equal_the_decoders_sequence_log_probabilities():
    model, tokenizer = random_t5(3), tiny_tokenizer()
    sources, labels = ["review: the plot was great", "review: a boring script"], ["negative", "positive"]
    scores = evaluation.label_log_likelihoods(model, tokenizer, sources, labels, batch_size=1, max_length=64, precision=FLOAT32)
    for i, source in enumerate(sources):
        batch = tokenizer([source], return_tensors="pt")
        for j, word in enumerate(labels):
            target = tokenizer([word], return_tensors="pt").input_ids
            with torch.no_grad():
                loss = model(**batch, labels=target).loss  # mean negative log-likelihood per target token
            assert scores[i, j] == pytest.approx(-loss.item() * target.shape[1], rel=1e-4)
    batched = evaluation.label_log_likelihoods(model, tokenizer, sources, labels, batch_size=2, max_length=64, precision=FLOAT32)
    np.testing.assert_allclose(batched, scores, rtol=1e-4, atol=1e-5)


def test_perplexity_is_the_exponential_of_the_mean_token_loss():
    from hwutils.composition.fixtures import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(["the old mill", "you are a fool", "a lovely ending"], 300, ["<|endoftext|>"],
                                     bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    model = random_gpt2(2, vocab_size=len(tokenizer))
    texts = ["the old mill", "a lovely ending and the old mill"]
    value = evaluation.perplexity(model, tokenizer, texts, batch_size=2, max_length=32, precision=FLOAT32)
    nll, count = 0.0, 0
    for text in texts:
        ids = tokenizer("<|endoftext|>" + text, return_tensors="pt").input_ids
        with torch.no_grad():
            nll += model(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
        count += ids.shape[1] - 1
    assert value == pytest.approx(math.exp(nll / count), rel=1e-4)


def test_samples_are_reproducible_with_a_seed_and_start_with_the_prompt():
    from hwutils.composition.fixtures import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(["the old mill", "you are a fool"], 300, ["<|endoftext|>"],
                                     bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    model = random_gpt2(1, vocab_size=len(tokenizer))
    run = lambda seed: evaluation.sample_texts(model, tokenizer, "the", 5, max_new_tokens=6, batch_size=2, seed=seed, precision=FLOAT32)
    first = run(0)
    assert first == run(0) and first != run(1)
    assert len(first) == 5 and all(t.startswith("the") for t in first)
    bf16 = evaluation.sample_texts(model, tokenizer, "", 2, max_new_tokens=4, batch_size=2, seed=0,
                                   precision=Precision("bfloat16", "cpu", "test"))
    assert len(bf16) == 2


@pytest.mark.parametrize("problem_type, expected", [("multi_label_classification", "sigmoid"), ("single_label_classification", "softmax")])
def test_attribute_probabilities_use_sigmoid_for_multi_label_classifiers(problem_type, expected):
    from transformers import RobertaConfig, RobertaForSequenceClassification

    from hwutils.composition.fixtures import byte_level_tokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = byte_level_tokenizer(["you are a fool", "the old mill"], 300, specials, template="<s> $A </s>",
                                     bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=16, max_position_embeddings=40, pad_token_id=tokenizer.pad_token_id, num_labels=2,
                           id2label={0: "neutral", 1: "toxicity"}, label2id={"neutral": 0, "toxicity": 1}, problem_type=problem_type)
    torch.manual_seed(0)
    classifier = RobertaForSequenceClassification(config).eval()
    texts = ["you are a fool", "the old mill", "the mill"]
    p = evaluation.attribute_probabilities(classifier, tokenizer, texts, "toxicity", batch_size=2, max_length=16)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = classifier(**batch).logits
    reference = torch.sigmoid(logits)[:, 1] if expected == "sigmoid" else torch.softmax(logits, -1)[:, 1]
    np.testing.assert_allclose(p, reference.numpy(), rtol=1e-4, atol=1e-5)
    from hwutils.core.errors import ConfigError

    with pytest.raises(ConfigError, match="no label"):
        evaluation.attribute_probabilities(classifier, tokenizer, texts, "insult", batch_size=2, max_length=16)


def test_grid_choose_and_interior_comparison():
    assert sweeps.grid(0.1) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    rows = [{"lambda": lam, "validation": v, "test": t} for lam, v, t in
            [(0.0, 0.7, 0.8), (0.5, 0.9, 0.85), (1.0, 0.95, 0.75)]]
    assert sweeps.choose(rows, "validation")["lambda"] == 1.0
    assert sweeps.choose(rows, "validation", interior=True)["lambda"] == 0.5
    versus = sweeps.interior_versus_endpoints(rows, "test")
    assert versus == {"best_interior_lambda": 0.5, "best_interior": 0.85, "best_endpoint": 0.8, "margin": pytest.approx(0.05)}
    worse = sweeps.interior_versus_endpoints([{**r, "test": 1 - r["test"]} for r in rows], "test")
    assert worse["margin"] < 0
    assert sweeps.sweep([0.0, 1.0], lambda lam: {"twice": 2 * lam}) == [{"lambda": 0.0, "twice": 0.0}, {"lambda": 1.0, "twice": 2.0}]


def test_choose_negation_keeps_the_lowest_attribute_rate_within_the_perplexity_bound():
    rows = sweeps.with_perplexity_increase([{"lambda": 0.5, "attribute_rate": 0.2, "neutral_perplexity": 10.5},
                                            {"lambda": 1.0, "attribute_rate": 0.1, "neutral_perplexity": 13.0},
                                            {"lambda": 0.25, "attribute_rate": 0.2, "neutral_perplexity": 10.1}], base_perplexity=10.0)
    assert rows[0]["perplexity_increase"] == pytest.approx(0.05)
    assert sweeps.choose_negation(rows, 0.1)["lambda"] == 0.25  # tie on the rate: the weaker negation
    assert sweeps.choose_negation(rows, 0.5)["lambda"] == 1.0
    assert sweeps.choose_negation(rows, 0.001) is None
