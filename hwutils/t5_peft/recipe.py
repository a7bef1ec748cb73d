"""Notebook 01's experiment: the data, the one training recipe every method shares, and how a trained
method is measured (test accuracy, free generation, merging LoRA, reloading saved weights).

:func:`train_method` is the whole life of one method in the notebook: a freshly loaded pre-trained
T5, the method applied (:mod:`hwutils.t5_peft.methods`), the shared training loop with its
checkpoints, the test evaluation, the weight file of a from-scratch method, and the record in
``results.json``.

**Resuming.** Eleven runs take about an hour on a T4, and a free Colab or Kaggle session can drop
at any time. Each run saves its training state (model, optimizer, schedule, random generators, the
batch stream's position, the logs) to ``OUTPUT_DIR/checkpoints/<method>.pt`` every
``checkpoint_every`` steps (:class:`hwutils.core.training.Checkpointer`); a rerun in the same
``OUTPUT_DIR`` continues from there and ends with the same weights as an uninterrupted run. A
finished run keeps only what the rest of the notebook needs, its trained parameters and logs
(``<method>.finished.pt``: the optimizer's state is deleted), and a rerun reuses it without
training. Either file is used only if it was written for the same settings and the same versions
of the code (the checkpoint's fingerprint); otherwise the run starts over and says why.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwutils.core import metrics
from hwutils.core.data.imdb import load_imdb
from hwutils.core.display import percent, show_markdown
from hwutils.core.models import ParameterCount, count_parameters, from_pretrained
from hwutils.core.precision import Precision
from hwutils.core.run import Run
from hwutils.core.training import Checkpointer, RunStats, TrainResult, seed_everything, train
from hwutils.t5_peft import lora, text2text
from hwutils.t5_peft.methods import Method
from hwutils.t5_peft.weights import load_exactly

SCORED_EXAMPLES = 8  # test reviews whose first-step scores are kept, to compare reloaded weights with


# -- data ---------------------------------------------------------------------------------------


def load_reviews(settings: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``{"train", "validation", "test"}`` IMDB-shaped splits: a seeded, class-balanced draw of
    ``train_examples + validation_examples`` training reviews (validation first), and the test split
    (``test_examples``, 0 = all of it)."""
    n_validation = settings["validation_examples"]
    n_pool = settings["train_examples"] + n_validation if settings["train_examples"] else 0  # 0: the whole split
    pool = load_imdb(settings["dataset"], "train", n=n_pool, seed=seed)
    return {"train": pool.select(range(n_validation, len(pool))), "validation": pool.select(range(n_validation)),
            "test": load_imdb(settings["dataset"], "test", n=settings["test_examples"], seed=seed)}


def describe_splits(splits: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per split: reviews, share of positive ones, mean length in words."""
    return [{"split": name, "reviews": len(split), "positive share": float(np.mean(split["label"])),
             "mean words": float(np.mean([len(text.split()) for text in split["text"]]))}
            for name, split in splits.items()]


@dataclass
class TaskData:
    """The splits encoded as text-to-text examples, and what the first decoder step scores."""

    task: text2text.TextToTextTask
    label_ids: list[int]  # first token of each label word
    train: text2text.EncodedSplit
    validation: text2text.EncodedSplit
    test: text2text.EncodedSplit


def encode_reviews(tokenizer: Any, settings: Mapping[str, Any], splits: Mapping[str, Any]) -> TaskData:
    """Every split as ``"<input_prefix><review>"`` -> label word, at most ``max_length`` tokens."""
    task = text2text.TextToTextTask(settings["input_prefix"], tuple(settings["label_words"]))
    encoded = {name: text2text.encode_split(tokenizer, task, split["text"], split["label"], settings["max_length"])
               for name, split in splits.items()}
    return TaskData(task, text2text.label_token_ids(tokenizer, task.label_words), **encoded)


def pretrained_t5(source: str, seed: int) -> nn.Module:
    """The pre-trained T5, freshly loaded on the CPU with every random generator reset to ``seed``:
    every method starts from the same weights and draws the same initial values for what it adds."""
    from transformers import T5ForConditionalGeneration

    seed_everything(seed)
    return from_pretrained(T5ForConditionalGeneration, source)


# -- measuring a model --------------------------------------------------------------------------


@dataclass
class Evaluation:
    """A model's test results: first-step predictions and what free generation writes."""

    accuracy: float
    macro_f1: float
    predictions: np.ndarray
    generation: dict[str, float]  # text2text.generation_check
    scores: torch.Tensor  # first-step label scores of the first SCORED_EXAMPLES test reviews

    def as_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "generation_check": self.generation}


def first_test_batch(data: TaskData, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in data.test.batch(range(min(size, len(data.test)))).items()}


def evaluate(model: nn.Module, tokenizer: Any, data: TaskData, settings: Mapping[str, Any],
             precision: Precision) -> Evaluation:
    """Test accuracy and macro-F1 by first-step scores, and the greedy-generation cross-check, computed
    in the run's ``precision`` (as training is)."""
    model.eval()
    start_id = model.config.decoder_start_token_id
    with precision.autocast():
        predictions = text2text.predict(model, data.test, data.label_ids, start_id, settings["eval_batch_size"])
        generation = text2text.generation_check(model, tokenizer, data.test, data.task, predictions,
                                                settings["generate_examples"])
        batch = first_test_batch(data, SCORED_EXAMPLES, next(model.parameters()).device)
        scores = text2text.label_scores(model, batch, data.label_ids, start_id).float().cpu()
    summary = metrics.classification_summary(data.test.labels, predictions, [0, 1])
    return Evaluation(summary["accuracy"], summary["macro_f1"], predictions, generation, scores)


# -- the shared recipe --------------------------------------------------------------------------


def warmup_then_decay(step: int, warmup_steps: int, max_steps: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup_steps`` (none for 0), then linear decay to
    zero at ``max_steps``."""
    warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return warmup * max(0.0, 1 - step / max_steps)


@dataclass
class MethodOutcome:
    """What one method's run produced (its model is not kept: a from-scratch method's weights are in
    ``weights_file``)."""

    method: Method
    training: TrainResult
    evaluation: Evaluation
    parameters: ParameterCount
    weights_file: Path | None = None

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy

    @property
    def trainable(self) -> int:
        return self.parameters.trainable

    def loss_window(self, last: bool) -> float:
        """Mean training loss over the first (or last) tenth of the steps."""
        losses = [row["loss"] for row in self.training.losses]
        window = max(1, len(losses) // 10)
        return float(np.mean(losses[-window:] if last else losses[:window]))

    def metrics(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "macro_f1": self.evaluation.macro_f1,
                "first_train_loss": self.loss_window(last=False), "last_train_loss": self.loss_window(last=True),
                "final_val_accuracy": self.training.evals[-1]["val_accuracy"]}


# Besides the core's NOT_COMPUTING: settings that do not change what a run trains, left out of its
# checkpoint's fingerprint.
NOT_IN_FINGERPRINT = ("checkpoint_every", "eval_batch_size", "test_examples", "generate_examples", "reference_config")


class StreamCheckpointer(Checkpointer):
    """A :class:`~hwutils.core.training.Checkpointer` that also moves the batch stream to the step it
    resumes from (the stream's whole state is its position: :class:`~hwutils.t5_peft.text2text.BatchStream`)."""

    def __init__(self, path: Path, every: int, fingerprint: Mapping[str, Any], stream: text2text.BatchStream):
        super().__init__(path, every, fingerprint)
        self.stream = stream

    def load(self) -> dict[str, Any] | None:
        state = super().load()
        self.stream.position = int(state["step"]) if state is not None else 0
        return state


@dataclass
class RunFiles:
    """Where one method's run keeps its state: the training checkpoint, then the finished run."""

    in_progress: Checkpointer
    finished: Checkpointer

    @classmethod
    def of(cls, run: Run, method: Method, stream: text2text.BatchStream) -> RunFiles:
        settings = {k: v for k, v in run.settings.computing().items() if k not in NOT_IN_FINGERPRINT}
        fingerprint = {"method": method.key, "lr": method.lr, "seed": run.seed, "precision": run.precision.name,
                       "settings": settings}
        folder = run.output_dir / "checkpoints"
        return cls(StreamCheckpointer(folder / f"{method.key}.pt", run.settings.checkpoint_every, fingerprint, stream),
                   Checkpointer(folder / f"{method.key}.finished.pt", 0, fingerprint))


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the parameters a method trains (all of them for full fine-tuning)."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def train_or_reuse(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, stream: text2text.BatchStream,
                   files: RunFiles, run: Run, method: Method, evaluate: Any) -> TrainResult:
    """Reuse a finished run (its trained parameters into ``model``), or train, resuming from the
    training checkpoint if there is one; a run that finishes keeps only its parameters and logs."""
    settings = run.settings
    finished = files.finished.load()
    if finished is not None:
        load_exactly(model, finished["parameters"], files.finished.path)
        files.in_progress.path.unlink(missing_ok=True)  # left over if a session ended between the two writes
        return TrainResult(list(finished["losses"]), list(finished["evals"]), RunStats(**finished["stats"]),
                           resumed_from_step=settings.max_steps)
    training = train(model, optimizer, stream, text2text.seq2seq_loss, steps=settings.max_steps, scheduler=scheduler,
                     evaluate=evaluate, eval_every=settings.eval_every, max_grad_norm=settings.max_grad_norm,
                     checkpoint=files.in_progress, desc=method.key, precision=run.precision)
    files.finished.save({"parameters": trainable_state(model), "losses": training.losses, "evals": training.evals,
                         "stats": asdict(training.stats)})
    files.in_progress.path.unlink(missing_ok=True)  # the optimizer's state is no longer needed
    return training


def train_method(run: Run, method: Method, tokenizer: Any, data: TaskData) -> MethodOutcome:
    """Apply ``method`` to a fresh pre-trained T5 and train it with the shared recipe (AdamW on the
    trainable parameters only, warm-up then linear decay, clipping, the same batches for every
    method, checkpoints to resume from), evaluate it on the test split, save a from-scratch
    method's weights, and record it."""
    settings = run.settings
    model = method.build(pretrained_t5(settings.model, run.seed)).to(run.device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=method.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_then_decay(step, settings.warmup_steps, settings.max_steps))
    stream = text2text.BatchStream(data.train, settings.batch_size, run.seed)

    def validation() -> dict[str, float]:
        start_id = model.config.decoder_start_token_id
        with run.precision.autocast():
            return {"val_accuracy": text2text.accuracy(model, data.validation, data.label_ids, start_id,
                                                       settings.eval_batch_size)}

    training = train_or_reuse(model, optimizer, scheduler, stream, RunFiles.of(run, method, stream), run, method,
                              validation)
    outcome = MethodOutcome(method, training, evaluate(model, tokenizer, data, settings, run.precision),
                            count_parameters(model))
    if method.weights is not None:
        outcome.weights_file = method.weights.save(model, run.output_dir / method.weights_file)
    run.record(method.key, outcome.metrics(), trainable_parameters=outcome.trainable,
               total_parameters=outcome.parameters.total, stats=training.stats, family=method.family,
               implementation=method.implementation, variant=method.variant, lr=method.lr,
               resumed_from_step=training.resumed_from_step, generation_check=outcome.evaluation.generation,
               val_curve=training.evals)
    return outcome


def describe_outcome(outcome: MethodOutcome) -> str:
    """One markdown line: accuracy, size, loss and time of a trained method, and what a rerun reused."""
    training, steps = outcome.training, outcome.training.stats.steps
    resumed = training.resumed_from_step
    reuse = ("" if resumed == 0 else
             f" Reused the finished run saved in `checkpoints/` ({steps} steps, no training now)."
             if resumed >= steps else f" Resumed from the checkpoint at step {resumed} of {steps}.")
    return (f"**{outcome.method.key}**: test accuracy **{percent(outcome.accuracy)}**, {outcome.trainable:,} trainable "
            f"parameters ({percent(outcome.parameters.trainable_share, 3)}), training loss "
            f"{outcome.loss_window(last=False):.3f} → {outcome.loss_window(last=True):.3f}, "
            f"{training.stats.wall_time_s:.1f} s.{reuse}")


def train_family(run: Run, table: Mapping[str, Method], family: str, tokenizer: Any,
                 data: TaskData) -> dict[str, MethodOutcome]:
    """:func:`train_method` for every method of ``family`` in ``table``, each summed up in one line."""
    outcomes = {}
    for key, method in table.items():
        if method.family == family:
            outcomes[key] = train_method(run, method, tokenizer, data)
            show_markdown(describe_outcome(outcomes[key]))
    return outcomes


# -- after training: merging LoRA, reloading saved weights --------------------------------------


def median_seconds(model: nn.Module, batch: Mapping[str, torch.Tensor], label_ids: list[int], repeats: int = 5) -> float:
    """Median wall time of the first-step scores of ``batch`` (synchronised on a GPU)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        text2text.label_scores(model, batch, label_ids, model.config.decoder_start_token_id)
        if batch["input_ids"].is_cuda:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


@torch.no_grad()
def merge_check(model: nn.Module, data: TaskData, batch_size: int) -> dict[str, float]:
    """Logits of a from-scratch LoRA model before and after merging ``B A`` into the weights, and the
    time of one batch each way; the model is unmerged again afterwards."""
    model.eval()
    batch = first_test_batch(data, batch_size, next(model.parameters()).device)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": batch["labels"]}
    unmerged_logits, unmerged_seconds = model(**inputs).logits, median_seconds(model, batch, data.label_ids)
    lora.merge_lora(model)
    merged_logits, merged_seconds = model(**inputs).logits, median_seconds(model, batch, data.label_ids)
    lora.unmerge_lora(model)
    return {"max_abs_logit_difference": float((merged_logits - unmerged_logits).abs().max()),
            "unmerged_seconds": unmerged_seconds, "merged_seconds": merged_seconds, "batch": len(batch["input_ids"])}


def reload_check(outcome: MethodOutcome, settings: Mapping[str, Any], seed: int, data: TaskData,
                 device: torch.device, precision: Precision) -> dict[str, Any]:
    """Load a from-scratch method's weight file into a freshly loaded pre-trained model: how far its
    first-step scores are from the trained model's, and whether its test predictions are the same
    (both computed in the run's ``precision``, as the trained model's were)."""
    model = outcome.method.weights.load(pretrained_t5(settings["model"], seed), outcome.weights_file).to(device).eval()
    start_id = model.config.decoder_start_token_id
    with precision.autocast():
        scores = text2text.label_scores(model, first_test_batch(data, SCORED_EXAMPLES, device), data.label_ids,
                                        start_id).float()
        predictions = text2text.predict(model, data.test, data.label_ids, start_id, settings["eval_batch_size"])
    return {"method": outcome.method.key, "file": outcome.weights_file.name, "bytes": outcome.weights_file.stat().st_size,
            "max_abs_score_difference": float((scores.cpu() - outcome.evaluation.scores).abs().max()),
            "same_test_predictions": bool(np.array_equal(predictions, outcome.evaluation.predictions))}
