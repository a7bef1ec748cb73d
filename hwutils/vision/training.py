"""Training and scoring a ViT classifier with the ``transformers`` ``Trainer``.

:func:`make_trainer` builds the one Trainer set-up every method of notebook 04 shares: evaluation
and a checkpoint every epoch, the best checkpoint (highest validation accuracy) reloaded at the
end, precision from the run (:meth:`hwutils.core.precision.Precision.trainer_flags`), and the two
settings images need (``remove_unused_columns=False`` and an image collator). The rest reads what
a Trainer did: its learning curves and its scores on a held-out split.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwutils.core import metrics
from hwutils.core.run import Run
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
    ``OUTPUT_DIR/checkpoints/<name>`` (emptied first: a stale checkpoint must not win "best")."""
    from transformers import TrainingArguments

    settings, on_gpu = run.settings, run.device.type == "cuda"
    checkpoints = run.output_dir / "checkpoints" / name
    shutil.rmtree(checkpoints, ignore_errors=True)
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
