"""The tiny_roberta fixture loads like roberta-large and has learned something from its pre-training."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer, RobertaForMaskedLM

from hwutils.core import fixtures
from hwutils.core.fixtures.text_datasets import fixture_sentences
from hwutils.encoders.fixtures import masked_lm_batches, masked_lm_loss, pretraining_texts


def test_loads_through_the_auto_classes_like_roberta_large():
    folder = fixtures.fixture_path("tiny_roberta")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    assert type(tokenizer).__name__ == "RobertaTokenizerFast" and config.model_type == "roberta"
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == \
        (config.bos_token_id, config.pad_token_id, config.eos_token_id) == (0, 1, 2)
    assert len(tokenizer) == config.vocab_size
    pair = tokenizer("The senator is reading a newspaper.", "The senator is reading.")
    assert tokenizer.convert_ids_to_tokens(pair["input_ids"]).count("</s>") == 3  # <s> A </s></s> B </s>
    assert "Ġnewspaper" in tokenizer.convert_ids_to_tokens(pair["input_ids"])  # frequent fixture words are whole tokens
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    assert model.classifier.out_proj.out_features == 3


def test_pre_training_taught_the_masked_language_model():
    folder = fixtures.fixture_path("tiny_roberta")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    trained = AutoModelForMaskedLM.from_pretrained(folder).eval()
    torch.manual_seed(0)
    untrained = RobertaForMaskedLM(trained.config).eval()
    encoded = tokenizer(fixture_sentences(200, seed=1), padding=True, return_tensors="pt")
    labels = encoded["input_ids"].clone()
    masked = (torch.rand(labels.shape, generator=torch.Generator().manual_seed(0)) < 0.15) & (encoded["attention_mask"] == 1)
    labels[~masked] = -100
    inputs = encoded["input_ids"].masked_fill(masked, tokenizer.mask_token_id)
    with torch.no_grad():
        trained_loss = trained(input_ids=inputs, attention_mask=encoded["attention_mask"], labels=labels).loss
        untrained_loss = untrained(input_ids=inputs, attention_mask=encoded["attention_mask"], labels=labels).loss
    assert trained_loss < 0.75 * untrained_loss, (trained_loss, untrained_loss)


def test_the_pre_training_loss_is_the_masked_lms_own():
    """The builder's loss reads only the masked positions; it must equal RobertaForMaskedLM's loss with labels."""
    folder = fixtures.fixture_path("tiny_roberta")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    torch.manual_seed(0)
    batch = masked_lm_batches(tokenizer, fixture_sentences(50, seed=2), batch_size=8)(torch.Generator().manual_seed(0))
    assert 0 < (batch["labels"] != -100).sum() < batch["attention_mask"].sum()  # some, not all, tokens are masked
    with torch.no_grad():
        expected = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        torch.testing.assert_close(masked_lm_loss(model, batch), expected)


def test_pre_training_text_is_pairs_as_pairs_and_reviews_without_any_label():
    texts = pretraining_texts(40, seed=3)
    pairs, reviews = texts[::2], texts[1::2]
    assert all(isinstance(p, tuple) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs)
    assert all(isinstance(r, str) for r in reviews)
    folder = fixtures.fixture_path("tiny_roberta")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = masked_lm_batches(tokenizer, texts[:2], batch_size=16, masking=0.3)(torch.Generator().manual_seed(0))
    separators = (batch["input_ids"] == tokenizer.eos_token_id).sum(dim=1).tolist()  # special tokens are never masked
    assert set(separators) == {1, 3}  # a review has one </s>, a pair three (<s> A </s></s> B </s>)
