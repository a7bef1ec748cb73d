"""Answer-only supervised fine-tuning data: only the answer tokens carry a loss."""

from __future__ import annotations

import pytest
import torch

from hwutils.core import fixtures
from hwutils.llm import sft
from hwutils.llm.sft import IGNORE_INDEX


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(fixtures.fixture_path("tiny_llama"))
    tok.pad_token = tok.eos_token
    return tok


def test_only_answer_tokens_carry_labels(tokenizer):
    prompt, answer = "Premise: The editor is reading.\nHypothesis: The editor is reading.\nAnswer:", " entailment"
    encoded = sft.encode_prompt_answer(tokenizer, prompt, answer, max_length=128)
    prompt_ids = tokenizer(prompt)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert encoded["input_ids"] == prompt_ids + answer_ids
    assert encoded["labels"] == [IGNORE_INDEX] * len(prompt_ids) + answer_ids
    assert [t for t, l in zip(encoded["input_ids"], encoded["labels"]) if l != IGNORE_INDEX] == answer_ids


def test_the_loss_ignores_prompt_tokens():
    # Cross-entropy with -100 labels equals the loss of the answer positions alone.
    logits = torch.randn(1, 5, 7)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 3, 4]])
    masked = torch.nn.functional.cross_entropy(logits.view(-1, 7), labels.view(-1), ignore_index=IGNORE_INDEX)
    answer_only = torch.nn.functional.cross_entropy(logits[0, 3:], labels[0, 3:])
    assert torch.isclose(masked, answer_only)


def test_collator_pads_with_ignored_labels_and_zero_attention(tokenizer):
    collator = sft.AnswerOnlyCollator(tokenizer, max_length=128)
    rows = [{"prompt": "Premise: A.\nAnswer:", "answer": " neutral"},
            {"prompt": "Premise: A much longer premise about the old sailor.\nAnswer:", "answer": " contradiction"}]
    batch = collator(rows)
    short = len(sft.encode_prompt_answer(tokenizer, rows[0]["prompt"], rows[0]["answer"], 128)["input_ids"])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"][0, short:].sum() == 0 and (batch["labels"][0, short:] == IGNORE_INDEX).all()
    assert (batch["input_ids"][0, short:] == tokenizer.pad_token_id).all()
    for row in range(2):  # per row: the labelled tokens are the answer and end-of-text
        labelled = batch["input_ids"][row][batch["labels"][row] != IGNORE_INDEX].tolist()
        assert labelled == tokenizer(rows[row]["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def test_too_long_prompts_lose_their_start_not_the_answer(tokenizer):
    prompt = "Premise: " + "the old sailor is walking. " * 40 + "\nAnswer:"
    encoded = sft.encode_prompt_answer(tokenizer, prompt, " neutral", max_length=32)
    assert len(encoded["input_ids"]) == 32
    assert encoded["input_ids"][0] == tokenizer.bos_token_id
    assert tokenizer.decode(encoded["input_ids"][-5:-2]).endswith("Answer:")
    assert sum(l != IGNORE_INDEX for l in encoded["labels"]) == 2


def test_collator_requires_a_pad_token():
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(fixtures.fixture_path("tiny_llama"))
    with pytest.raises(ValueError, match="pad token"):
        sft.AnswerOnlyCollator(bare, max_length=16)


def test_token_label_rows_and_mean_length(tokenizer):
    rows = [{"prompt": "Premise: A.\nAnswer:", "answer": " neutral"},
            {"prompt": "Premise: A much longer premise about the old sailor.\nAnswer:", "answer": " contradiction"}]
    batch = sft.AnswerOnlyCollator(tokenizer, max_length=128)(rows[:1])
    table = sft.token_label_rows(tokenizer, batch, last=3)
    assert [r["label"] for r in table] == [IGNORE_INDEX] + batch["input_ids"][0][-2:].tolist()  # ':' then answer, end-of-text
    assert table[-1]["token"] == repr(tokenizer.eos_token)
    lengths = [len(sft.encode_prompt_answer(tokenizer, r["prompt"], r["answer"], 128)["input_ids"]) for r in rows]
    assert sft.mean_length(tokenizer, rows, 128) == sum(lengths) / 2
    assert sft.mean_length(tokenizer, rows, 128, sample=1) == lengths[0]
