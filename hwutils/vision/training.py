"""Training and scoring a ViT classifier with the ``transformers`` ``Trainer``.

:func:`make_trainer` builds the one Trainer set-up every method of notebook 04 shares: evaluation
and a checkpoint every epoch, the best checkpoint (highest validation accuracy) reloaded at the
end, precision from the run (:meth:`hwutils.core.precision.Precision.trainer_flags`), and the two
settings images need (``remove_unused_columns=False`` and an image collator). The rest reads what
a Trainer did: its learning curves and its scores on a held-out split.

Checkpoints are kept (``OUTPUT_DIR/checkpoints/<method>``, with the recipe that wrote them):
:func:`train_or_resume` resumes an interrupted run from its last checkpoint, reloads a finished
one without training again, and starts over when the recipe (settings, seed, learning rate,
hwutils' and the libraries' versions) has changed since, saying which part differs.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwutils.core import metrics
from hwutils.core.run import Run
from hwutils.core.training import Meter, RunStats, code_versions
from hwutils.vision.data import ImageClassificationData
from hwutils.vision.images import collate_images

# The Trainer's checkpoint rotation warns on file systems whose modification times it distrusts: noise here.
warnings.filterwarnings("ignore", message="mtime may not be reliable")


@dataclass(frozen=True)
class ClassificationMetrics:
    """``compute_metrics`` for the Trainer: accuracy and top-k accuracy of the logits."""

    top_k: int

    def __call__(self, eval_prediction: Any) -> dict[str, float]:
        logits, labels = eval_prediction.predictions, eval_prediction.label_ids
        return {"accuracy": metrics.accuracy(labels, logits.argmax(-1)),
                f"top{self.top_k}_accuracy": metrics.top_k_accuracy(labels, logits, self.top_k)}


def training_arguments(run: Run, name: str, lr: float) -> Any:
    """``TrainingArguments`` of method ``name`` from the run's settings; checkpoints go to
    ``OUTPUT_DIR/checkpoints/<name>`` (kept: :func:`train_or_resume` resumes from them)."""
    from transformers import TrainingArguments

    settings, on_gpu = run.settings, run.device.type == "cuda"
    checkpoints = run.output_dir / "checkpoints" / name
    return TrainingArguments(
        output_dir=str(checkpoints), seed=run.seed, use_cpu=not on_gpu, **run.precision.trainer_flags(),
        num_train_epochs=settings.epochs, learning_rate=lr, weight_decay=settings.weight_decay,
        warmup_ratio=settings.warmup_ratio, lr_scheduler_type="linear",
        per_device_train_batch_size=settings.batch_size, per_device_eval_batch_size=settings.eval_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model="accuracy", greater_is_better=True, logging_strategy="steps", logging_steps=settings.logging_steps,
        remove_unused_columns=False,  # else the Trainer drops `image` before our on-the-fly transform reads it
        label_names=["labels"], dataloader_num_workers=settings.dataloader_workers, dataloader_pin_memory=on_gpu,
        report_to="none",
    )


def make_trainer(model: Any, data: ImageClassificationData, run: Run, name: str, lr: float, top_k: int) -> Any:
    """A ``Trainer`` for ``model`` on ``data.train``, evaluated on ``data.validation`` after every epoch."""
    from transformers import Trainer

    return Trainer(model=model, args=training_arguments(run, name, lr), train_dataset=data.train,
                   eval_dataset=data.validation, data_collator=collate_images, compute_metrics=ClassificationMetrics(top_k))


RECIPE_FILE = "recipe.json"


@dataclass
class TrainerRun:
    """What :func:`train_or_resume` did: the Trainer's output, the cost of the steps run now, and
    the step it resumed from (0: from the start; the last step: a finished run reloaded)."""

    output: Any
    stats: RunStats
    resumed_from_step: int
    note: str


def checkpoint_recipe(run: Run, name: str, lr: float) -> dict[str, Any]:
    """What a method's checkpoints depend on: every setting, the seed, its learning rate, and the code's versions."""
    recipe = {"method": name, "lr": lr, "seed": run.seed, "profile": run.profile, "precision": run.precision.name,
              "settings": dict(run.settings), "code_versions": code_versions()}
    return json.loads(json.dumps(recipe, default=str))  # the form it takes once saved, to compare like with like


def _prepare_checkpoints(folder: Path, recipe: dict[str, Any]) -> str:
    """Keep ``folder`` when it was written for ``recipe``; otherwise empty it. Returns a note on what was found."""
    recipe_file = folder / RECIPE_FILE
    saved = json.loads(recipe_file.read_text()) if recipe_file.exists() else None
    note = ""
    if saved is not None and saved != recipe:
        changed = sorted(k for k in set(saved) | set(recipe) if saved.get(k) != recipe.get(k))
        if "settings" in changed:
            old, new = saved.get("settings", {}), recipe["settings"]
            changed += [f"settings.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        note = f"checkpoints in {folder} were written for another recipe ({', '.join(changed)} differ): started over"
    if saved != recipe:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        recipe_file.write_text(json.dumps(recipe, indent=2))
    return note


def train_or_resume(trainer: Any, recipe: dict[str, Any]) -> TrainerRun:
    """``trainer.train()``, resumed from the last checkpoint of the same ``recipe`` if there is one
    (a finished run is reloaded: its log history and best checkpoint come back, no step is repeated).
    Cost is measured for the steps run now."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(trainer.args.output_dir)
    note = _prepare_checkpoints(folder, recipe)
    last = get_last_checkpoint(str(folder))
    resumed = int(last.rsplit("-", 1)[-1]) if last else 0
    if last:
        note = f"resumed from `{Path(last).name}` (step {resumed})"
    images_per_step = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    with Meter(trainer.args.device) as meter:
        output = trainer.train(resume_from_checkpoint=last)
        done = max(output.global_step - resumed, 0)
        meter.count(samples=done * images_per_step, steps=done)
    if last and done == 0:
        note = f"the finished run reloaded from `{Path(last).name}` (step {resumed}), nothing trained again"
    return TrainerRun(output, meter.stats, resumed, note or "trained from the start")


def trainer_curves(trainer: Any) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """``(training-loss records, evaluation records)`` from a Trainer's ``log_history``."""
    history = trainer.state.log_history
    losses = [{"step": r["step"], "loss": r["loss"]} for r in history if "loss" in r]
    evals = [{"step": r["step"], "epoch": r["epoch"], "eval_loss": r["eval_loss"], "eval_accuracy": r["eval_accuracy"]}
             for r in history if "eval_loss" in r]
    return losses, evals


def plot_trainer_curves(trainers: Mapping[str, Any], chance: float) -> None:
    """Training and validation loss per step, and validation accuracy per epoch, of each Trainer."""
    import matplotlib.pyplot as plt

    fig, (loss_ax, accuracy_ax) = plt.subplots(1, 2, figsize=(12, 4))
    for colour, (name, trainer) in zip(["C0", "C1", "C2", "C3"], trainers.items()):
        losses, evals = trainer_curves(trainer)
        loss_ax.plot([r["step"] for r in losses], [r["loss"] for r in losses], color=colour, alpha=0.6, label=f"{name}: train loss")
        loss_ax.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], color=colour, marker="o",
                     label=f"{name}: validation loss")
        accuracy_ax.plot([r["epoch"] for r in evals], [r["eval_accuracy"] for r in evals], color=colour, marker="o", label=name)
    accuracy_ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:.3g})")
    loss_ax.set(xlabel="optimizer step", ylabel="cross-entropy", title="Loss")
    accuracy_ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy on the validation split", ylim=(0, 1.02))
    for ax in (loss_ax, accuracy_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()


@dataclass
class SplitScores:
    """A model's logits on a held-out split, its predictions, and the metrics of the notebook."""

    logits: np.ndarray
    labels: np.ndarray
    metrics: dict[str, float]

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(-1)


def score_split(trainer: Any, dataset: Any, num_labels: int, top_k: int) -> SplitScores:
    """``trainer.predict(dataset)``: accuracy, top-k accuracy and macro-F1 (every class weighs the same)."""
    output = trainer.predict(dataset)
    logits, labels = output.predictions, output.label_ids
    predictions = logits.argmax(-1)
    return SplitScores(logits, labels, {
        "accuracy": metrics.accuracy(labels, predictions),
        f"top{top_k}_accuracy": metrics.top_k_accuracy(labels, logits, top_k),
        "macro_f1": metrics.macro_f1(labels, predictions, labels=list(range(num_labels))),
    })
