"""In-context learning with a causal language model: prompts, and two ways to read the answer.

A prompt shows zero or more solved *demonstrations* and then the query, ending with ``Answer:``.
The answer is read in one of two ways:

* **scoring** (:func:`score_continuations`): the log-probability the model gives to each label's
  continuation (``" entailment"``, ``" neutral"``, ...) after the prompt; the prediction is the
  label with the highest score. Every example gets a label: nothing is ever unparseable.
* **generation** (:func:`generate_answers` + :func:`parse_answer`): greedy decoding of a few
  tokens, then parsing the first word; text that is not one of the label words is *unparseable*.

:func:`contextual_calibration` divides out the label probabilities the model gives to a
content-free input (Zhao et al., 2021, "Calibrate before use"), which removes a constant label bias.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hwutils.core.prompting import (contextual_calibration, generate_greedy, normalised_label_probabilities,  # noqa: F401
                                    pick_demonstrations, score_continuations, score_token_continuations)

UNPARSEABLE = -1  # the label id of a generated answer that is none of the answer words


@dataclass(frozen=True)
class PromptStyle:
    """How a premise/hypothesis pair is asked, and the answer word of each label (in label-id order)."""

    name: str
    template: str  # with {premise} and {hypothesis}; ends with the answer prefix, no trailing space
    answers: tuple[str, ...]

    def render(self, premise: str, hypothesis: str, label: int | None = None) -> str:
        """The question for one pair; with ``label``, followed by its answer (a demonstration)."""
        text = self.template.format(premise=premise.strip(), hypothesis=hypothesis.strip())
        return text if label is None else text + self.continuation(label)

    def continuation(self, label: int) -> str:
        """What follows ``Answer:`` for ``label``: a space, then the answer word."""
        return " " + self.answers[label]


# MultiNLI's labels are 0 = entailment, 1 = neutral, 2 = contradiction.
LABEL_WORDS = PromptStyle(
    "label words",
    "Premise: {premise}\nHypothesis: {hypothesis}\n"
    "Does the premise entail the hypothesis? Answer with entailment, neutral or contradiction.\nAnswer:",
    ("entailment", "neutral", "contradiction"),
)
YES_MAYBE_NO = PromptStyle(
    "yes/maybe/no",
    '{premise}\nQuestion: Given that, is it true that "{hypothesis}"? Answer yes, maybe or no.\nAnswer:',
    ("yes", "maybe", "no"),
)
STYLES = {"label_words": LABEL_WORDS, "yes_maybe_no": YES_MAYBE_NO}
DEMONSTRATION_SEPARATOR = "\n\n"


def build_prompt(style: PromptStyle, premise: str, hypothesis: str,
                 demonstrations: Sequence[Mapping[str, Any]] = ()) -> str:
    """Solved ``demonstrations`` (rows with premise, hypothesis, label), then the unsolved query."""
    shots = [style.render(d["premise"], d["hypothesis"], int(d["label"])) for d in demonstrations]
    return DEMONSTRATION_SEPARATOR.join([*shots, style.render(premise, hypothesis)])


# ---------------------------------------------------------------------------------------------
# Reading the answer by scoring the label continuations
# ---------------------------------------------------------------------------------------------


def score_labels(model: torch.nn.Module, tokenizer: Any, prompts: Sequence[str], style: PromptStyle,
                 batch_size: int = 16, desc: str = "scoring") -> np.ndarray:
    """Label scores (prompts x labels) of ``style``'s continuations after each prompt."""
    continuations = [style.continuation(label) for label in range(len(style.answers))]
    return score_continuations(model, tokenizer, prompts, continuations, batch_size, desc)


# ---------------------------------------------------------------------------------------------
# Reading the answer from generated text
# ---------------------------------------------------------------------------------------------


def parse_answer(text: str, style: PromptStyle) -> int:
    """The label whose answer word is the first word of ``text`` (any case), else ``UNPARSEABLE``."""
    words = re.findall(r"[a-z]+", text.lower())
    if words and words[0] in style.answers:
        return style.answers.index(words[0])
    return UNPARSEABLE
