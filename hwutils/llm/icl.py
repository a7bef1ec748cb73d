"""In-context learning on MultiNLI: one prompt (a style and its demonstrations), read three ways.

:func:`evaluate_prompt` asks the frozen model every held-out question with the same
demonstrations and reads its answer by **scoring** the label words, by scoring with **contextual
calibration**, and by **greedy generation** parsed to a label. :class:`PromptEvaluation` keeps the
scores and texts and turns them into metrics (:meth:`~PromptEvaluation.metrics`, the ``results.json``
record) and a display row (:meth:`~PromptEvaluation.row`). :func:`findings` gathers what the
analysis of all prompts states. :func:`temperature_study` reads one prompt from sampled text at
several temperatures, as the course report did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from hwutils.core import metrics, plots
from hwutils.core.data.mnli import LABELS
from hwutils.core.progress import progress
from hwutils.core.prompting import contextual_calibration, generate_greedy
from hwutils.core.training import Meter, RunStats
from hwutils.llm.prompts import UNPARSEABLE, PromptStyle, build_prompts, parse_answer, score_labels

CLASSES = range(len(LABELS))


def method_key(style: PromptStyle, shots: int) -> str:
    """The results key of one prompt, e.g. ``icl_label_words_1_shot``."""
    return f"icl_{style.key}_{shots}_shot"


@dataclass
class PromptEvaluation:
    """What one prompt made the model answer on the held-out examples."""

    style: PromptStyle
    demonstrations: list[dict[str, Any]]
    scores: np.ndarray  # (examples, labels): log p(answer word | prompt)
    content_free_scores: np.ndarray  # (content-free inputs, labels): the model's label bias
    generated: list[str]  # greedy continuations of the same prompts
    scoring: RunStats  # cost of scoring the held-out examples
    generation: RunStats  # cost of generating for them

    @property
    def shots(self) -> int:
        return len(self.demonstrations)

    @property
    def name(self) -> str:
        return f"{self.style.name}, {self.shots}-shot"

    @property
    def key(self) -> str:
        return method_key(self.style, self.shots)

    @property
    def predicted(self) -> np.ndarray:
        """The scoring reader's labels: the best-scored answer word."""
        return self.scores.argmax(axis=1)

    @property
    def calibrated(self) -> np.ndarray:
        """The labels after contextual calibration."""
        return contextual_calibration(self.scores, self.content_free_scores).argmax(axis=1)

    @property
    def parsed(self) -> np.ndarray:
        """The generation reader's labels (``UNPARSEABLE`` where the first word is no answer word)."""
        return np.array([parse_answer(text, self.style) for text in self.generated])

    def label_shares(self) -> np.ndarray:
        """Share of the examples the scoring reader gives each label."""
        return np.bincount(self.predicted, minlength=len(LABELS)) / len(self.predicted)

    def metrics(self, y_true: Sequence[int]) -> dict[str, float]:
        """The metrics recorded in ``results.json`` (scoring first, then calibration, then generation)."""
        predicted, calibrated, parsed = self.predicted, self.calibrated, self.parsed
        return {
            **metrics.classification_summary(y_true, predicted, CLASSES),
            "calibrated_accuracy": metrics.accuracy(y_true, calibrated),
            "calibrated_macro_f1": metrics.macro_f1(y_true, calibrated, CLASSES),
            "generation_accuracy": metrics.accuracy(y_true, parsed),
            "unparseable_generation": float(np.mean(parsed == UNPARSEABLE)),
        }

    def details(self) -> dict[str, Any]:
        """What ``results.json`` keeps besides the metrics: the prompt, its label bias, its cost."""
        shares = self.label_shares()
        details = {"prompt": self.name, "most_predicted": LABELS[int(shares.argmax())],
                   "most_predicted_share": float(shares.max()),
                   "scoring": self.scoring.as_dict(), "generation": self.generation.as_dict()}
        if self.shots == 1:  # how often the answer copies the single demonstration's label
            details["demo_label_share"] = float(np.mean(self.predicted == self.demonstrations[0]["label"]))
        return details

    def row(self, y_true: Sequence[int]) -> dict[str, Any]:
        """One line of the notebook's table."""
        values, details = self.metrics(y_true), self.details()
        return {"prompt": self.name, "style": self.style.name, "shots": self.shots,
                **{name.replace("_", " "): value for name, value in values.items()},
                "most predicted": details["most_predicted"], "its share": details["most_predicted_share"],
                "scoring time (s)": self.scoring.wall_time_s, "scoring peak memory (MB)": self.scoring.peak_memory_mb}


def evaluate_prompt(model: Any, tokenizer: Any, rows: Any, style: PromptStyle, demonstrations: list[dict[str, Any]], *,
                    content_free_inputs: Sequence[str], max_new_tokens: int, batch_size: int,
                    generation_batch_size: int) -> PromptEvaluation:
    """Score, calibrate and generate for every row of ``rows`` with ``style`` and ``demonstrations``.

    Calibration scores the same prompt with premise and hypothesis both replaced by each of
    ``content_free_inputs`` (demonstrations kept): what the model answers when there is nothing to read.
    """
    prompts = build_prompts(style, rows, demonstrations)
    name = f"{style.name}, {len(demonstrations)}-shot"
    device = next(model.parameters()).device
    with Meter(device) as scoring:
        scores = score_labels(model, tokenizer, prompts, style, batch_size, desc=f"scoring {name}")
        scoring.count(samples=len(prompts), tokens=sum(len(ids) for ids in tokenizer(prompts)["input_ids"]))
    content_free = build_prompts(style, [{"premise": text, "hypothesis": text} for text in content_free_inputs],
                                 demonstrations)
    content_free_scores = score_labels(model, tokenizer, content_free, style, batch_size, desc="content-free")
    with Meter(device) as generation:
        generated = generate_greedy(model, tokenizer, prompts, max_new_tokens, generation_batch_size,
                                    desc=f"generating {name}")
        generation.count(samples=len(prompts))
    return PromptEvaluation(style, list(demonstrations), scores, content_free_scores, generated,
                            scoring.stats, generation.stats)


def confusion_grid(evaluations: Sequence[PromptEvaluation], y_true: Sequence[int], columns: int):
    """The scoring reader's confusion matrix of every prompt, one row of panels per style."""
    rows = -(-len(evaluations) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for ax, evaluation in zip(axes.flat, evaluations):
        accuracy = metrics.accuracy(y_true, evaluation.predicted)
        plots.confusion_matrix(metrics.confusion(y_true, evaluation.predicted, CLASSES), LABELS,
                               title=f"{evaluation.name}\naccuracy {accuracy:.3f}", ax=ax)
        ax.tick_params(axis="y", labelrotation=0)
    for ax in list(axes.flat)[len(evaluations):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def findings(evaluations: Sequence[PromptEvaluation], y_true: Sequence[int]) -> dict[str, Any]:
    """What the analysis of the prompts states, computed: best and worst prompt, label bias,
    calibration's effect, generation's failures, and whether one demonstration is copied."""
    rows = {e.name: {**e.metrics(y_true), **e.details(), "style": e.style.name, "shots": e.shots} for e in evaluations}
    zero_shot = {e.style.key: e for e in evaluations if e.shots == 0}
    copying = []
    for e in evaluations:
        if e.shots == 1 and e.style.key in zero_shot:
            label = int(e.demonstrations[0]["label"])
            copying.append({"prompt": e.name, "label": LABELS[label], "share": rows[e.name]["demo_label_share"],
                            "zero_shot_share": float(np.mean(zero_shot[e.style.key].predicted == label))})
    styles = sorted({e.style.name for e in evaluations}, key=[e.style.name for e in evaluations].index)
    return {
        "best": max(rows.items(), key=lambda item: item[1]["accuracy"]),
        "worst": min(rows.items(), key=lambda item: item[1]["accuracy"]),
        "most_biased": max(rows.items(), key=lambda item: item[1]["most_predicted_share"]),
        "worst_generation": max(rows.items(), key=lambda item: item[1]["unparseable_generation"]),
        "calibration_helped_accuracy": sum(r["calibrated_accuracy"] > r["accuracy"] for r in rows.values()),
        "calibration_helped_macro_f1": sum(r["calibrated_macro_f1"] > r["macro_f1"] for r in rows.values()),
        "mean_accuracy_by_style": {s: float(np.mean([r["accuracy"] for r in rows.values() if r["style"] == s]))
                                   for s in styles},
        "copying": copying,
        "prompts": len(rows),
    }



@torch.no_grad()
def generate_sampled(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int, batch_size: int,
                     temperature: float, seed: int) -> list[str]:
    """Sampled continuations of ``prompts`` at ``temperature`` (seeded), decoded to text: the
    course report's way of reading an answer. Batches are left-padded, as for greedy decoding."""
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts: list[str] = []
    try:
        for start in progress(range(0, len(prompts), batch_size), desc=f"sampling at T={temperature:g}"):
            batch = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True).to(device)
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature, top_k=0,
                                 top_p=1.0, pad_token_id=tokenizer.pad_token_id)
            texts += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return texts


def temperature_study(model: Any, tokenizer: Any, rows: Any, evaluation: PromptEvaluation, y_true: Sequence[int], *,
                      temperatures: Sequence[float], max_new_tokens: int, batch_size: int, seed: int) -> list[dict[str, Any]]:
    """``evaluation``'s prompt read from sampled text at each temperature (greedy first, as temperature 0):
    accuracy over all examples (unparseable = wrong), the unparseable share, and accuracy over the
    parseable answers only (the denominator of the course report; ``None`` when nothing parsed)."""
    prompts = build_prompts(evaluation.style, rows, evaluation.demonstrations)
    readings = [(0.0, evaluation.generated)] + [
        (t, generate_sampled(model, tokenizer, prompts, max_new_tokens, batch_size, t, seed)) for t in temperatures]
    study = []
    for temperature, texts in readings:
        parsed, truth = np.array([parse_answer(text, evaluation.style) for text in texts]), np.asarray(y_true)
        answered = parsed != UNPARSEABLE
        study.append({"temperature": temperature, "reader": "greedy" if temperature == 0 else "sampled",
                      "accuracy": float(np.mean(parsed == truth)), "unparseable": float(np.mean(~answered)),
                      "accuracy_over_parseable": float(np.mean(parsed[answered] == truth[answered])) if answered.any() else None,
                      "parseable": int(answered.sum())})
    return study
