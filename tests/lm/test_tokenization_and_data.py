from __future__ import annotations

import json

import pytest
import torch

from hwutils.core import fixtures
from hwutils.lm import tokenization
from hwutils.lm.data import load_dialogue_corpus
from hwutils.lm.batches import fixed_batches, random_batch, train_val_split
from hwutils.core.errors import DataError


def test_char_tokenizer_round_trip_and_unknowns():
    tokenizer = tokenization.CharTokenizer.fit("hello world\n")
    text = "hello\nworld"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.encode("z") == [tokenizer.unk_id]
    assert tokenizer.vocab_size == len(set("hello world\n")) + 1


def test_compare_tokenizers_measures_unknowns_on_validation():
    train = "the cat sat on the mat\nthe dog sat\n" * 20
    rows = {r["tokenizer"]: r for r in tokenization.compare_tokenizers(train, "the cot sat\n", bpe_vocab_size=40)}
    assert rows["word"]["unknown_rate"] == pytest.approx(1 / 3)  # "cot" is new
    assert rows["character"]["unknown_rate"] == 0  # c, o, t were all seen
    assert rows["character"]["tokens_per_line"] == len("the cot sat")
    assert rows["word"]["tokens_per_line"] == 3


def test_dialogue_fixture_loads_through_datasets():
    corpus = load_dialogue_corpus(str(fixtures.fixture_path("dialogue_corpus")))
    assert len(corpus) > 50_000 and corpus.count("\n") == 1600


def test_dialogue_loader_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="dataset path '/no/such/folder' does not exist"):
        load_dialogue_corpus("/no/such/folder")
    (tmp_path / "train.jsonl").write_text(json.dumps({"utterance": "hi"}) + "\n")
    with pytest.raises(DataError, match="has no column 'text'; its columns are utterance"):
        load_dialogue_corpus(str(tmp_path))


def test_corpus_shorter_than_block_size_fails_clearly():
    with pytest.raises(DataError, match="too short for block_size=64"):
        train_val_split(list(range(100)), 0.1, block_size=64)


def test_batches_are_windows_and_next_token_targets():
    ids = torch.arange(1000)
    train, val = train_val_split(ids, 0.1, block_size=16)
    assert len(train) == 900 and val[0] == 900
    x, y = random_batch(train, 16, 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16) and torch.equal(y, x + 1)
    first, second = fixed_batches(val, 16, 4, 2, seed=1), fixed_batches(val, 16, 4, 2, seed=1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))
