"""hwutils.t5_peft.text2text: the "sentiment: <review>" -> "positive" format, first-step scoring, generate check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwutils.t5_peft import text2text
from hwutils.core.errors import ConfigError
from hwutils.core.fixtures import fixture_path
from hwutils.t5_peft.fixtures import random_t5

TASK = text2text.TextToTextTask("sentiment: ", ("negative", "positive"))


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(fixture_path("t5_tiny"))


def test_task_format():
    assert TASK.source("Great film.") == "sentiment: Great film."
    assert TASK.target(1) == "positive" and TASK.target(0) == "negative"


def test_label_token_ids_are_the_first_tokens_and_must_differ(tokenizer):
    ids = text2text.label_token_ids(tokenizer, TASK.label_words)
    assert tokenizer.convert_ids_to_tokens(ids) == ["▁negative", "▁positive"]
    with pytest.raises(ConfigError, match="start with the same token"):
        text2text.label_token_ids(tokenizer, ["positive", "positive!"])


def test_encoding_truncates_keeps_eos_and_pads_targets_with_minus_100(tokenizer):
    texts = ["The plot was dull.", "The plot was wonderful. " * 20]
    split = text2text.encode_split(tokenizer, TASK, texts, [0, 1], max_length=16)
    assert len(split) == 2 and len(split.input_ids[1]) == 16 and split.input_ids[1][-1] == tokenizer.eos_token_id
    batch = split.batch([0, 1])
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"][0].sum() == len(split.input_ids[0]) and batch["attention_mask"][1].all()
    assert tokenizer.decode(batch["labels"][0][batch["labels"][0] >= 0]) == "negative</s>"


def test_batch_stream_covers_every_example_once_per_epoch_and_repeats_with_the_seed(tokenizer):
    split = text2text.encode_split(tokenizer, TASK, [f"review {i}" for i in range(10)], [i % 2 for i in range(10)], 16)
    stream = text2text.BatchStream(split, 5, seed=3)
    first_epoch = [stream()["input_ids"] for _ in range(2)]
    seen = sorted(tokenizer.decode(row, skip_special_tokens=True) for b in first_epoch for row in b)
    assert seen == sorted(f"sentiment: review {i}" for i in range(10))
    again = text2text.BatchStream(split, 5, seed=3)
    assert torch.equal(again()["input_ids"], first_epoch[0])
    assert text2text.BatchStream(split, 5, seed=4).indices(0) != again.indices(0)


def test_batch_stream_resumed_at_a_step_draws_what_an_uninterrupted_stream_draws(tokenizer):
    """Batches cross epoch boundaries (7 examples, batches of 3); a stream moved to position k (as a
    resumed run's checkpoint moves it) continues exactly as the uninterrupted one."""
    split = text2text.encode_split(tokenizer, TASK, [f"review {i}" for i in range(7)], [i % 2 for i in range(7)], 16)
    uninterrupted = text2text.BatchStream(split, 3, seed=0)
    batches = [uninterrupted()["input_ids"] for _ in range(8)]
    resumed = text2text.BatchStream(split, 3, seed=0)
    resumed.position = 5
    assert all(torch.equal(resumed()["input_ids"], batches[k]) for k in range(5, 8))
    first_epoch = uninterrupted.indices(0) + uninterrupted.indices(1) + uninterrupted.indices(2)[:1]
    assert sorted(first_epoch) == list(range(7)), "one epoch, no repeats"


def test_scoring_reads_the_first_decoder_step(tokenizer):
    model = random_t5(vocab_size=len(tokenizer))
    split = text2text.encode_split(tokenizer, TASK, ["The plot was dull.", "What a superb film."], [0, 1], 32)
    batch = split.batch([0, 1])
    ids = text2text.label_token_ids(tokenizer, TASK.label_words)
    scores = text2text.label_scores(model, batch, ids, 0)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       decoder_input_ids=torch.zeros(2, 1, dtype=torch.long)).logits
    assert torch.equal(scores, logits[:, 0, ids])
    predictions = text2text.predict(model, split, ids, 0, batch_size=1)
    assert np.array_equal(predictions, scores.argmax(-1).numpy())
    assert text2text.accuracy(model, split, ids, 0) == float(np.mean(predictions == np.array([0, 1])))


@pytest.mark.slow
def test_pretrained_fixture_learns_and_generate_check_agrees(tokenizer):
    """The fixture model, fine-tuned for a few steps on reviews, writes label words when generating."""
    from transformers import T5ForConditionalGeneration

    from hwutils.core.data.imdb import load_imdb

    model = T5ForConditionalGeneration.from_pretrained(fixture_path("t5_tiny"))
    data = load_imdb(str(fixture_path("sentiment_reviews")), "train", n=200, seed=0)
    split = text2text.encode_split(tokenizer, TASK, data["text"], data["label"], 64)
    ids = text2text.label_token_ids(tokenizer, TASK.label_words)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stream = text2text.BatchStream(split, 16, seed=0)
    torch.manual_seed(0)
    losses = []
    for _ in range(30):
        loss = text2text.seq2seq_loss(model, stream())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    predictions = text2text.predict(model, split, ids, 0)
    check = text2text.generation_check(model, tokenizer, split, TASK, predictions, n=32)
    assert check["examples"] == 32 and check["label_word_rate"] == 1.0 and check["agrees_with_scoring"] >= 0.9
