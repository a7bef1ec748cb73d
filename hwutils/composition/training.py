"""Training one module with the Hugging Face ``Trainer``: checkpoints, resuming, and reuse of a finished module.

Each module trains in its own folder ``<output_dir>/modules/<name>/``. The ``Trainer`` saves a
checkpoint (adapter, optimizer, scheduler, random states) every ``checkpoint_every`` steps; a
rerun after a disconnect resumes from the last one. A finished module is saved with
``save_pretrained`` (a standard peft adapter folder) next to ``training.json`` (its recipe, loss
curve and cost); a rerun with the same recipe loads it instead of training again. On a T4 the
``Trainer`` computes in float16 with loss scaling, as ``run.precision`` decides.
"""

from __future__ import annotations

import gc
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from hwutils.core.precision import Precision
from hwutils.core.progress import progress
from hwutils.core.training import Meter, RunStats
from hwutils.composition.modules import load_module_state, module_state

FINAL = "final"
RECIPE_FILE = "recipe.json"


@dataclass
class TrainedModule:
    """A trained module: its parameters, loss curve, cost, and whether it was resumed or reused."""

    name: str
    state: dict[str, torch.Tensor]
    losses: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss"}
    stats: RunStats = field(default_factory=RunStats)
    trainable_parameters: int = 0
    total_parameters: int = 0
    resumed_from_step: int = 0
    reused: bool = False

    def record_fields(self) -> dict[str, Any]:
        """What ``run.record`` keeps about how the module was obtained."""
        return {"trainable_parameters": self.trainable_parameters, "total_parameters": self.total_parameters,
                "stats": self.stats, "resumed_from_step": self.resumed_from_step, "reused": self.reused}


class Seq2SeqCollator:
    """Pads inputs with the pad id and labels with -100 (ignored by the loss)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[Mapping[str, list[int]]]) -> dict[str, torch.Tensor]:
        batch = pad([r["input_ids"] for r in rows], self.pad_id)
        if "labels" in rows[0]:
            batch["labels"] = pad([r["labels"] for r in rows], -100)["input_ids"]
        return batch


class CausalLMCollator:
    """Pads sequences; every real token is its own label (the model shifts them), padding is -100."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[Mapping[str, list[int]]]) -> dict[str, torch.Tensor]:
        batch = pad([r["input_ids"] for r in rows], self.pad_id)
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return batch


def pad(sequences: Sequence[Sequence[int]], value: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids`` and their ``attention_mask``."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), value, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, sequence in enumerate(sequences):
        ids[i, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[i, :len(sequence)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def train_module(name: str, peft_model, train_dataset, collator, folder: str | Path, *, recipe: Mapping[str, Any],
                 steps: int, lr: float, batch_size: int, seed: int, precision: Precision, device: torch.device,
                 weight_decay: float = 0.0, warmup_ratio: float = 0.0, max_grad_norm: float = 1.0,
                 checkpoint_every: int = 0, logging_steps: int = 10, dataloader_workers: int = 0,
                 callbacks: Sequence[Any] = ()) -> TrainedModule:
    """Train the adapter of ``peft_model`` for ``steps`` AdamW steps on ``train_dataset`` (or reuse or
    resume a run of the same ``recipe`` found in ``folder``) and return the trained module.
    ``callbacks`` are extra ``TrainerCallback`` objects (the tests use one to interrupt a run)."""
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(folder)
    recipe = {**recipe, "steps": steps, "lr": lr, "batch_size": batch_size, "seed": seed, "precision": precision.name,
              "weight_decay": weight_decay, "warmup_ratio": warmup_ratio, "examples": len(train_dataset)}
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft_model.parameters())
    recipe = json.loads(json.dumps(recipe, default=str))  # the form it takes once saved, to compare like with like
    if _saved_recipe(folder) != recipe:  # another recipe (or none): start afresh
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / RECIPE_FILE).write_text(json.dumps(recipe, indent=2))

    final = folder / FINAL
    if (final / "training.json").exists():
        from safetensors.torch import load_file

        load_module_state(peft_model, load_file(final / "adapter_model.safetensors"))
        log = json.loads((final / "training.json").read_text())
        return TrainedModule(name, module_state(peft_model), log["losses"], RunStats(**log["stats"]), trainable, total,
                             log["resumed_from_step"], reused=True)

    args = TrainingArguments(
        output_dir=str(folder), max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=lr,
        weight_decay=weight_decay, warmup_ratio=warmup_ratio, lr_scheduler_type="linear", max_grad_norm=max_grad_norm,
        logging_steps=min(logging_steps, steps),  # a run shorter than the logging interval still logs a loss
        save_strategy="steps" if checkpoint_every else "no",
        save_steps=checkpoint_every or steps, save_total_limit=1, seed=seed, data_seed=seed, report_to=[],
        disable_tqdm=True, use_cpu=device.type == "cpu", dataloader_num_workers=dataloader_workers,
        label_names=["labels"], remove_unused_columns=False, **precision.trainer_flags())
    trainer = Trainer(model=peft_model, args=args, train_dataset=train_dataset, data_collator=collator)
    for callback in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(callback)
    checkpoint = get_last_checkpoint(str(folder)) if checkpoint_every else None
    resumed_from = int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else 0
    for callback in [ProgressBar(f"module {name}", steps, resumed_from), *callbacks]:
        trainer.add_callback(callback)
    with Meter(device) as meter:
        trainer.train(resume_from_checkpoint=checkpoint)
        meter.count(samples=(steps - resumed_from) * batch_size, steps=steps - resumed_from)
    losses = [{"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e]
    peft_model.save_pretrained(str(final))
    (final / "training.json").write_text(json.dumps({"losses": losses, "stats": _stats_dict(meter.stats),
                                                      "resumed_from_step": resumed_from}, indent=2))
    for stale in folder.glob("checkpoint-*"):  # the final module replaces the intermediate states
        shutil.rmtree(stale, ignore_errors=True)
    trained = TrainedModule(name, module_state(peft_model), losses, meter.stats, trainable, total, resumed_from)
    del trainer
    release_memory(device)
    return trained


def release_memory(device: torch.device) -> None:
    """Free what a finished training run held (the Trainer keeps reference cycles), so that the next
    module's base model fits on the GPU next to the ones kept for scoring."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _saved_recipe(folder: Path) -> dict[str, Any] | None:
    path = folder / RECIPE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _stats_dict(stats: RunStats) -> dict[str, Any]:
    return {k: v for k, v in stats.as_dict().items() if k not in ("samples_per_s", "tokens_per_s")}


class ProgressBar(TrainerCallback):
    """The project's progress bar in the ``Trainer`` (widgets in JupyterLab, a few text lines in batch runs)."""

    def __init__(self, desc: str, total: int, initial: int):
        self.bar = progress(total=total, initial=initial, desc=desc)

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()
