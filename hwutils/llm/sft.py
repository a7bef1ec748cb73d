"""Supervised fine-tuning data: the loss is computed on the answer tokens only.

A training example is a prompt (the same text the evaluation shows the model) and its answer
(``" entailment"``). :func:`encode_prompt_answer` concatenates their token ids and sets the label
of every prompt token to ``-100``, the index PyTorch's cross-entropy ignores, so the model is
trained to produce the answer, not to reproduce the prompt. :class:`AnswerOnlyCollator` does this
for a batch of ``{"prompt", "answer"}`` rows and pads it (padding is ignored by the loss too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

import torch

IGNORE_INDEX = -100  # torch.nn.CrossEntropyLoss(ignore_index=-100), which transformers' models use


def encode_prompt_answer(tokenizer: Any, prompt: str, answer: str, max_length: int,
                         append_eos: bool = True) -> dict[str, list[int]]:
    """Token ids of ``prompt + answer`` (+ end-of-text) with ``labels`` = -100 on the prompt.

    Prompt and answer are tokenized separately, exactly as the scoring reader tokenizes them, so
    the answer tokens learned are the ones scored. Too long a prompt loses tokens from its start
    (just after the begin-of-text token): the question and ``Answer:`` at its end are kept.
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if append_eos:
        answer_ids = answer_ids + [tokenizer.eos_token_id]
    overflow = len(prompt_ids) + len(answer_ids) - max_length
    if overflow > 0:
        keep_first = 1 if prompt_ids and prompt_ids[0] == tokenizer.bos_token_id else 0
        prompt_ids = prompt_ids[:keep_first] + prompt_ids[keep_first + overflow:]
    return {"input_ids": prompt_ids + answer_ids, "attention_mask": [1] * (len(prompt_ids) + len(answer_ids)),
            "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids}


def pad_batch(encoded: Sequence[Mapping[str, Sequence[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad ``input_ids`` (with ``pad_id``), ``attention_mask`` (0) and ``labels`` (-100)."""
    width = max(len(e["input_ids"]) for e in encoded)
    fill = {"input_ids": pad_id, "attention_mask": 0, "labels": IGNORE_INDEX}
    return {key: torch.tensor([list(e[key]) + [value] * (width - len(e[key])) for e in encoded], dtype=torch.long)
            for key, value in fill.items()}


class AnswerOnlyCollator:
    """Turns ``{"prompt": str, "answer": str}`` rows into a padded batch whose labels are the answer only.

    Use it with ``Trainer(..., data_collator=AnswerOnlyCollator(tokenizer, max_length))`` and
    ``TrainingArguments(remove_unused_columns=False)`` (the rows are text, tokenized per batch).
    """

    def __init__(self, tokenizer: Any, max_length: int, append_eos: bool = True):
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token: set tokenizer.pad_token = tokenizer.eos_token first")
        self.tokenizer, self.max_length, self.append_eos = tokenizer, max_length, append_eos

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        encoded = [encode_prompt_answer(self.tokenizer, r["prompt"], r["answer"], self.max_length, self.append_eos)
                   for r in rows]
        return pad_batch(encoded, self.tokenizer.pad_token_id)


def token_label_rows(tokenizer: Any, batch: Mapping[str, torch.Tensor], last: int = 8) -> list[dict[str, Any]]:
    """The last ``last`` tokens of a collated batch's first example, each with its label (-100 = no loss)."""
    ids, labels = batch["input_ids"][0][-last:], batch["labels"][0][-last:]
    return [{"token": repr(tokenizer.decode([int(t)])), "input id": int(t), "label": int(l)} for t, l in zip(ids, labels)]


def mean_length(tokenizer: Any, rows: Iterable[Mapping[str, str]], max_length: int, sample: int = 200) -> float:
    """Mean tokens per training example (prompt + answer + end-of-text) over the first ``sample`` rows."""
    lengths = [len(encode_prompt_answer(tokenizer, r["prompt"], r["answer"], max_length)["input_ids"])
               for r in islice(rows, sample)]
    return sum(lengths) / len(lengths)
