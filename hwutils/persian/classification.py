"""Hard prompts for Persian sentiment: the prompt's layout, its token ids, and reading the answer.

A prompt is an **instruction** (a Persian question), then zero or more solved **demonstrations**,
then the comment to classify, each in the same layout::

    <instruction>
    نظر: <comment>
    پاسخ: <label word>

The answer is read by **scoring** (:func:`hwutils.core.prompting.score_token_continuations`): the
log-probability the model gives to each label word (``" منفی"``, ``" مثبت"``) after ``پاسخ:``;
the best-scored label is the prediction, so every comment gets one.

The instruction is tokenized on its own and the rest appended as token ids
(:func:`prompt_ids`). That is exactly how peft's prompt tuning initialises a soft prompt from text
(``PromptTuningInit.TEXT`` tokenizes the instruction alone), so the zero-shot hard prompt and the
TEXT-initialised soft prompt start from the same tokens, which the notebook checks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwutils.core.prompting import contextual_calibration, score_token_continuations

COMMENT_TEMPLATE = "\nنظر: {text}\nپاسخ:"  # "comment: ... answer:"


@dataclass(frozen=True)
class SentimentPrompt:
    """An instruction and the label word of each class (in label-id order, without the leading space)."""

    instruction: str
    label_words: tuple[str, ...]

    def continuation(self, label: int) -> str:
        """What follows ``پاسخ:`` for ``label``: a space, then the label word."""
        return " " + self.label_words[label]

    def body(self, text: str, label: int | None = None) -> str:
        """One comment in the prompt's layout; with ``label``, followed by its answer (a demonstration)."""
        body = COMMENT_TEMPLATE.format(text=text.strip())
        return body if label is None else body + self.continuation(label)

    def render(self, text: str, demonstrations: Sequence[Mapping[str, Any]] = ()) -> str:
        """The whole prompt as text (for display): instruction, demonstrations, the comment."""
        return self.instruction + "".join(self.body(d["text"], int(d["label"])) for d in demonstrations) + self.body(text)


def instruction_ids(tokenizer: Any, prompt: SentimentPrompt) -> list[int]:
    """The instruction's token ids, tokenized on its own as peft's TEXT initialisation does."""
    return list(tokenizer(prompt.instruction)["input_ids"])


def prompt_ids(tokenizer: Any, prompt: SentimentPrompt, text: str, demonstrations: Sequence[Mapping[str, Any]] = (),
               with_instruction: bool = True) -> list[int]:
    """Token ids of the prompt for ``text``: the instruction's ids (unless ``with_instruction`` is
    False, as for a soft prompt, which takes the instruction's place), then the demonstrations and
    the comment."""
    body = "".join(prompt.body(d["text"], int(d["label"])) for d in demonstrations) + prompt.body(text)
    head = instruction_ids(tokenizer, prompt) if with_instruction else []
    return head + list(tokenizer(body, add_special_tokens=False)["input_ids"])


def continuation_ids(tokenizer: Any, prompt: SentimentPrompt) -> list[list[int]]:
    """Token ids of each label's continuation (``" منفی"``, ``" مثبت"``), one list per label."""
    return [list(tokenizer(prompt.continuation(label), add_special_tokens=False)["input_ids"])
            for label in range(len(prompt.label_words))]


def score_hard_prompt(model: Any, tokenizer: Any, prompt: SentimentPrompt, texts: Sequence[str],
                      demonstrations: Sequence[Mapping[str, Any]] = (), batch_size: int = 16,
                      desc: str = "scoring") -> np.ndarray:
    """``log p(label word | prompt)`` for every text and label: shape (texts, labels)."""
    ids = [prompt_ids(tokenizer, prompt, text, demonstrations) for text in texts]
    return score_token_continuations(model, ids, continuation_ids(tokenizer, prompt), tokenizer.pad_token_id,
                                     batch_size=batch_size, desc=desc)


def calibrated(model: Any, tokenizer: Any, prompt: SentimentPrompt, scores: np.ndarray,
               content_free_texts: Sequence[str], demonstrations: Sequence[Mapping[str, Any]] = ()) -> np.ndarray:
    """``scores`` after contextual calibration: the label bias the model shows for content-free
    comments (an empty one, ``"N/A"``) in the same prompt is divided out."""
    content_free = score_hard_prompt(model, tokenizer, prompt, content_free_texts, demonstrations,
                                     batch_size=len(content_free_texts), desc="content-free")
    return contextual_calibration(scores, content_free)


# ---------------------------------------------------------------------------------------------
# A baseline that reads one word
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[\w\u200c]+")


def words_of(text: str) -> set[str]:
    """The distinct words of a Persian text (letters, digits and ZWNJ; punctuation split off)."""
    return set(_WORD.findall(text))


def best_single_word_rule(train_texts: Sequence[str], train_labels: Sequence[int], test_texts: Sequence[str],
                          test_labels: Sequence[int], candidates: int = 500) -> dict[str, Any]:
    """The best rule "if the comment contains WORD, predict class C, else the other class", chosen
    on the training texts among the ``candidates`` most frequent words, and its test accuracy.

    It measures how far a one-word lookup gets: a task it solves needs no reading at all.
    """
    train_words = [words_of(t) for t in train_texts]
    train_labels = np.asarray(train_labels)
    classes = sorted(set(train_labels.tolist()))
    frequent = [w for w, _ in Counter(w for ws in train_words for w in ws).most_common(candidates)]
    best = {"word": "", "predicts": classes[0], "train_accuracy": float(np.mean(train_labels == classes[0]))}
    for word in frequent:
        present = np.array([word in ws for ws in train_words])
        for c in classes:
            other = next(x for x in classes if x != c) if len(classes) > 1 else c
            accuracy = float(np.mean(np.where(present, c, other) == train_labels))
            if accuracy > best["train_accuracy"]:
                best = {"word": word, "predicts": c, "train_accuracy": accuracy}
    other = next((x for x in classes if x != best["predicts"]), best["predicts"])
    if not best["word"]:  # no word beats always answering the majority class
        other = best["predicts"]
    test_predictions = [best["predicts"] if best["word"] in words_of(t) else other for t in test_texts]
    return {**best, "test_accuracy": float(np.mean(np.asarray(test_predictions) == np.asarray(test_labels)))}
