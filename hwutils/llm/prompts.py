"""MultiNLI as a prompt: two styles of asking, demonstrations, and the answer read back.

A prompt shows zero or more solved *demonstrations* and then the query, ending with ``Answer:``.
The answer is read in one of two ways (the machinery is task-independent and lives in
:mod:`hwutils.core.prompting`):

* **scoring** (:func:`score_labels`): the log-probability the model gives to each label's
  continuation (``" entailment"``, ``" neutral"``, ...) after the prompt; the prediction is the
  label with the highest score. Every example gets a label: nothing is ever unparseable.
* **generation** (:func:`hwutils.core.prompting.generate_greedy` + :func:`parse_answer`): greedy
  decoding of a few tokens, then parsing the first word; text that is not one of the answer words
  is *unparseable*.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hwutils.core.prompting import score_continuations

UNPARSEABLE = -1  # the label id of a generated answer that is none of the answer words


@dataclass(frozen=True)
class PromptStyle:
    """How a premise/hypothesis pair is asked, and the answer word of each label (in label-id order)."""

    key: str  # snake_case: the name in settings and in results keys
    name: str  # for tables and prose
    template: str  # with {premise} and {hypothesis}; ends with the answer prefix, no trailing space
    answers: tuple[str, ...]

    def render(self, premise: str, hypothesis: str, label: int | None = None) -> str:
        """The question for one pair; with ``label``, followed by its answer (a demonstration)."""
        text = self.template.format(premise=premise.strip(), hypothesis=hypothesis.strip())
        return text if label is None else text + self.continuation(label)

    def continuation(self, label: int) -> str:
        """What follows ``Answer:`` for ``label``: a space, then the answer word."""
        return " " + self.answers[label]

    def continuations(self) -> list[str]:
        """Every label's continuation, in label-id order: the candidates that scoring compares."""
        return [self.continuation(label) for label in range(len(self.answers))]


# MultiNLI's labels are 0 = entailment, 1 = neutral, 2 = contradiction.
LABEL_WORDS = PromptStyle(
    "label_words", "label words",
    "Premise: {premise}\nHypothesis: {hypothesis}\n"
    "Does the premise entail the hypothesis? Answer with entailment, neutral or contradiction.\nAnswer:",
    ("entailment", "neutral", "contradiction"),
)
YES_MAYBE_NO = PromptStyle(
    "yes_maybe_no", "yes/maybe/no",
    '{premise}\nQuestion: Given that, is it true that "{hypothesis}"? Answer yes, maybe or no.\nAnswer:',
    ("yes", "maybe", "no"),
)
# The words of the third style are several tokens each in the smoke fixture's tokenizer (as Llama-3's
# " entailment" is), so the smoke tests can run the multi-token scoring path of the full profile.
TRUE_FALSE = PromptStyle(
    "true_false", "true/neither/false",
    '{premise}\nQuestion: "{hypothesis}" True, false or neither?\nAnswer:',
    ("true", "neither", "false"),
)
STYLES = {style.key: style for style in (LABEL_WORDS, YES_MAYBE_NO, TRUE_FALSE)}
DEMONSTRATION_SEPARATOR = "\n\n"


def build_prompt(style: PromptStyle, premise: str, hypothesis: str,
                 demonstrations: Sequence[Mapping[str, Any]] = ()) -> str:
    """Solved ``demonstrations`` (rows with premise, hypothesis, label), then the unsolved query."""
    shots = [style.render(d["premise"], d["hypothesis"], int(d["label"])) for d in demonstrations]
    return DEMONSTRATION_SEPARATOR.join([*shots, style.render(premise, hypothesis)])


def build_prompts(style: PromptStyle, rows: Any, demonstrations: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """:func:`build_prompt` for every row of ``rows`` (a dataset or a list of dicts)."""
    return [build_prompt(style, row["premise"], row["hypothesis"], demonstrations) for row in rows]


def prompt_answer_pairs(dataset: Any, style: PromptStyle) -> Any:
    """SFT data: each row becomes ``{"prompt": zero-shot prompt, "answer": its label's continuation}``."""
    return dataset.map(lambda row: {"prompt": build_prompt(style, row["premise"], row["hypothesis"]),
                                    "answer": style.continuation(row["label"])},
                       remove_columns=dataset.column_names)


def score_labels(model: torch.nn.Module, tokenizer: Any, prompts: Sequence[str], style: PromptStyle,
                 batch_size: int = 16, desc: str = "scoring") -> np.ndarray:
    """Label scores (prompts x labels): ``log p(answer word | prompt)`` of ``style``'s continuations."""
    return score_continuations(model, tokenizer, prompts, style.continuations(), batch_size, desc)


def parse_answer(text: str, style: PromptStyle) -> int:
    """The label whose answer word is the first word of ``text`` (any case), else ``UNPARSEABLE``."""
    words = re.findall(r"[a-z]+", text.lower())
    if words and words[0] in style.answers:
        return style.answers.index(words[0])
    return UNPARSEABLE
