"""Reading notebook 01's runs side by side: the results table, the two figures, and the facts the
analysis is written from (best runs, gaps between families and implementations, speed, what the
prompt's text initialisation is worth)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from hwutils.core import plots
from hwutils.core.display import percent
from hwutils.t5_peft.methods import FAMILIES
from hwutils.t5_peft.recipe import MethodOutcome

PEFT_FAMILIES = ("prompt_tuning", "adapter", "lora")
IMPLEMENTATION_NAMES = {"pytorch": "plain PyTorch", "scratch": "the from-scratch version", "peft": "peft",
                        "adapters": "AdapterHub's `adapters`", "opendelta": "opendelta"}


def chance_margin(n: int) -> float:
    """Three standard errors of a coin-flipping classifier's accuracy on ``n`` examples: an accuracy
    within ``0.5 ± chance_margin(n)`` is no evidence of learning (a coin leaves it 3 times in 1,000)."""
    return 3 * math.sqrt(0.25 / n)


def difference_margin(n: int) -> float:
    """Three standard errors of the difference between two classifiers' accuracies on ``n`` examples
    (at most, when both are near 50%): a smaller gap between two runs is no evidence that they differ."""
    return 3 * math.sqrt(0.5 / n)


def optimizer_state_mb(trainable: int) -> float:
    """Memory of a float32 gradient and AdamW's two moments per trainable parameter."""
    return 3 * 4 * trainable / 2**20


def result_rows(outcomes: Mapping[str, MethodOutcome], zero_shot_accuracy: float, zero_shot_f1: float) -> list[dict]:
    """The results table: the frozen model's zero-shot row, then accuracy and cost of every run."""
    rows = [{"method": "zero-shot (no training)", "accuracy": zero_shot_accuracy, "macro F1": zero_shot_f1,
             "trainable params": 0, "share": percent(0.0, 3)}]
    for key, outcome in outcomes.items():
        stats = outcome.training.stats
        rows.append({"method": key, "accuracy": outcome.accuracy, "macro F1": outcome.evaluation.macro_f1,
                     "trainable params": outcome.trainable, "share": percent(outcome.parameters.trainable_share, 3),
                     "train time (s)": stats.wall_time_s, "samples/s": stats.samples_per_s,
                     "peak mem (MB)": stats.peak_memory_mb, "grad + Adam state (MB)": optimizer_state_mb(outcome.trainable),
                     "generate agrees": outcome.evaluation.generation["agrees_with_scoring"]})
    return rows


def plot_accuracy_vs_parameters(outcomes: Mapping[str, MethodOutcome], zero_shot_accuracy: float):
    """Test accuracy against trainable parameters; runs with identical results share one labelled point
    (``prompt_tuning_scratch = peft``)."""
    points: dict[tuple[int, float], list[str]] = {}
    for key, outcome in outcomes.items():
        points.setdefault((outcome.trainable, outcome.accuracy), []).append(key)
    rows = [{"method": " = ".join([keys[0]] + [outcomes[k].method.label for k in keys[1:]]),
             "trainable_parameters": trainable, "accuracy": accuracy} for (trainable, accuracy), keys in points.items()]
    ax = plots.accuracy_vs_parameters(rows, chance=0.5, ax=plt.subplots(figsize=(8, 5))[1],
                                      title="Test accuracy vs trainable parameters")
    ax.axhline(zero_shot_accuracy, color="C3", linestyle=":", linewidth=1, label=f"zero-shot ({zero_shot_accuracy:.3g})")
    ax.legend()
    return ax


def plot_learning_curves(outcomes: Mapping[str, MethodOutcome]):
    """Per family (columns): training loss (moving average, top) and validation accuracy (bottom)."""
    fig, axes = plt.subplots(2, len(FAMILIES), figsize=(16, 6.5), sharex=True)
    for column, (family, (title, _)) in enumerate(FAMILIES.items()):
        for outcome in (o for o in outcomes.values() if o.method.family == family):
            losses = np.array([row["loss"] for row in outcome.training.losses])
            window = max(1, len(losses) // 20)
            smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
            label = outcome.method.label
            axes[0, column].plot(np.arange(window, len(losses) + 1), smooth, label=label)
            evals = outcome.training.evals
            axes[1, column].plot([e["step"] for e in evals], [e["val_accuracy"] for e in evals], marker="o", label=label)
        axes[0, column].set(title=title, ylabel="training loss" if column == 0 else None, yscale="log")
        axes[1, column].set(xlabel="step", ylabel="validation accuracy" if column == 0 else None, ylim=(0.3, 1.02))
        axes[1, column].axhline(0.5, color="grey", linestyle="--", linewidth=1)
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def compared(value: float, reference: float, margin: float = 0.0) -> str:
    """``"trails"``, ``"matches"`` or ``"is ahead of"``: how ``value`` stands against ``reference``
    (within ``margin`` of it: "matches")."""
    if abs(value - reference) <= margin:
        return "matches" if value == reference else f"is within ±{margin * 100:.1f} points of"
    return "trails" if value < reference else "is ahead of"


def family_accuracies(outcomes: Mapping[str, MethodOutcome], family: str) -> dict[str, float]:
    """``{implementation: test accuracy}`` of one family's implementations (ablations left out)."""
    return {o.method.implementation: o.accuracy for o in outcomes.values()
            if o.method.family == family and not o.method.variant}


@dataclass(frozen=True)
class Findings:
    """What the analysis of the ten runs says, computed (never typed) from their outcomes."""

    best: str  # the most accurate run
    best_peft: str  # the most accurate parameter-efficient run
    cheapest_close: str | None  # fewest trainable parameters within one point of full fine-tuning
    family_best: dict[str, float]
    beat_zero_shot: list[str]
    speed: dict[str, float]  # samples/s of every run
    peft_speed: float  # mean samples/s of the PEFT runs
    spreads: dict[str, float]  # best minus worst implementation, per PEFT family
    identical_twins: dict[str, bool]  # scratch and peft give exactly the same test accuracy
    widest: str  # the PEFT family whose implementations differ most
    at_chance: list[str]  # runs within the chance margin of 50%


def findings(outcomes: Mapping[str, MethodOutcome], zero_shot_accuracy: float, margin: float = 0.0) -> Findings:
    """The facts the notebook's analysis is rendered from; a run beats the zero-shot, or chance, only
    by more than ``margin`` (e.g. :func:`chance_margin` of the test split's size)."""
    accuracy = {key: o.accuracy for key, o in outcomes.items()}
    peft = {key: a for key, a in accuracy.items() if outcomes[key].method.family != "full_ft"}
    close = [key for key, a in peft.items() if a >= accuracy["full_ft"] - 0.01]
    by_family = {family: family_accuracies(outcomes, family) for family in FAMILIES}
    spreads = {f: max(by_family[f].values()) - min(by_family[f].values()) for f in PEFT_FAMILIES}
    speed = {key: o.training.stats.samples_per_s for key, o in outcomes.items()}
    return Findings(
        best=max(accuracy, key=accuracy.get), best_peft=max(peft, key=peft.get),
        cheapest_close=min(close, key=lambda key: outcomes[key].trainable) if close else None,
        family_best={f: max(a.values()) for f, a in by_family.items()},
        beat_zero_shot=[key for key, a in accuracy.items() if a > zero_shot_accuracy + margin],
        speed=speed, peft_speed=float(np.mean([speed[key] for key in peft])), spreads=spreads,
        identical_twins={f: abs(by_family[f]["scratch"] - by_family[f]["peft"]) < 1e-12 for f in ("prompt_tuning", "lora")},
        widest=max(spreads, key=spreads.get),
        at_chance=[key for key, a in accuracy.items() if abs(a - 0.5) <= margin],
    )


@dataclass(frozen=True)
class Ablation:
    """The text-initialised from-scratch prompt against the same prompt started from random vectors."""

    text_init: float  # test accuracy of prompt_tuning_scratch
    random_init: float  # test accuracy of prompt_tuning_random_init
    margin: float  # differences within it are not told apart (two runs on the same test reviews)
    first_losses: tuple[float, float]  # mean training loss over the first tenth of the steps (text, random)
    last_losses: tuple[float, float]  # ... and over the last tenth


def ablation(outcomes: Mapping[str, MethodOutcome], n: int) -> Ablation:
    """What the prompt's text initialisation is worth in this run (``n``: test reviews)."""
    text, random = outcomes["prompt_tuning_scratch"], outcomes["prompt_tuning_random_init"]
    return Ablation(text.accuracy, random.accuracy, difference_margin(n),
                    (text.loss_window(last=False), random.loss_window(last=False)),
                    (text.loss_window(last=True), random.loss_window(last=True)))


def describe_ablation(result: Ablation) -> str:
    """One or two sentences on the ablation, worded from its values."""
    gap = result.text_init - result.random_init
    verdict = (f"the text initialisation is worth {gap * 100:.1f} points here" if gap > result.margin else
               f"random vectors do {-gap * 100:.1f} points better here" if -gap > result.margin else
               f"the two differ by {abs(gap) * 100:.1f} points, within the ±{result.margin * 100:.1f} points that "
               "two runs on these test reviews cannot be told apart by")
    return (f"Started from random vectors instead of the embeddings of `prompt_init_text`, the same from-scratch prompt "
            f"(same code, rate and batches) reaches {percent(result.random_init)} against {percent(result.text_init)}: "
            f"{verdict}. Its training loss goes from {result.first_losses[1]:.3f} to {result.last_losses[1]:.3f} "
            f"(text-initialised: {result.first_losses[0]:.3f} to {result.last_losses[0]:.3f}).")


def describe_resumption(outcomes: Mapping[str, MethodOutcome]) -> str:
    """Which runs this execution trained from the start, resumed from a checkpoint, or reused finished."""
    groups: dict[str, list[str]] = {"trained from the start": [], "resumed from a checkpoint": [],
                                    "reused (finished before, not trained now)": []}
    for key, outcome in outcomes.items():
        resumed, steps = outcome.training.resumed_from_step, outcome.training.stats.steps
        group = ("trained from the start" if resumed == 0 else "reused (finished before, not trained now)"
                 if resumed >= steps else "resumed from a checkpoint")
        groups[group].append(f"{key} (step {resumed})" if group.startswith("resumed") else key)
    return "; ".join(f"**{len(keys)} {group}**" + (f": {', '.join(keys)}" if keys and len(keys) < len(outcomes) else "")
                     for group, keys in groups.items() if keys) + "."
