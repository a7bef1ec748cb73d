"""The QLoRA recipe: LoRA adapters on a 4-bit model, trained with transformers' ``Trainer``.

* :func:`lora_config` reads rank, scale, dropout and targets from the settings;
* :func:`add_lora` prepares a 4-bit model for training (``prepare_model_for_kbit_training``) and
  wraps it with adapters (seeded, so the adapters' initialisation is reproducible);
* :func:`lora_count_row` compares peft's count of trainable parameters with the analytic one
  (:func:`hwutils.llm.architecture.llama_lora_parameters`);
* :func:`training_arguments` builds the ``TrainingArguments`` of one run from the settings and the
  run's precision, the same way for supervised fine-tuning and the classification head; its
  checkpoints go to a folder named after the settings and code versions (:func:`checkpoint_dir`);
* :func:`train_resumable` trains, resuming from the last checkpoint a previous (interrupted or
  finished) run of the same settings left, and says from which step.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hwutils.core.run import Run
from hwutils.core.training import Meter, RunStats, code_versions
from hwutils.llm.architecture import llama_lora_parameters
from hwutils.llm.quantization import keep_cpu_4bit_layout


def lora_config(settings: Mapping[str, Any], task_type: str):
    """``peft.LoraConfig`` with ``lora_r``, ``lora_alpha``, ``lora_dropout`` and ``lora_targets`` from
    ``settings``; ``task_type`` is ``"CAUSAL_LM"`` or ``"SEQ_CLS"`` (which keeps a new head trainable)."""
    from peft import LoraConfig

    return LoraConfig(r=settings["lora_r"], lora_alpha=settings["lora_alpha"], lora_dropout=settings["lora_dropout"],
                      target_modules=list(settings["lora_targets"]), task_type=task_type)


def add_lora(model: torch.nn.Module, config: Any, seed: int, gradient_checkpointing: bool = False,
             prepare_4bit: bool = True) -> Any:
    """``model`` with LoRA adapters: every base weight frozen, adapters initialised under ``seed``.

    ``prepare_model_for_kbit_training`` first casts the few unquantised parameters (norms,
    embeddings) to fp32 and, with ``gradient_checkpointing``, recomputes activations in the
    backward pass instead of storing them. ``prepare_4bit=False`` skips it (a meta-device model,
    only counted). ``config`` is copied: peft writes the base model's name into the one it gets.
    """
    from peft import get_peft_model, prepare_model_for_kbit_training

    if prepare_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    torch.manual_seed(seed)  # the adapters' initialisation (A random, B = 0)
    model = get_peft_model(model, copy.deepcopy(config))
    keep_cpu_4bit_layout(model)
    return model


def lora_count_row(name: str, peft_model: Any, config: Any, r: int, targets: Sequence[str]) -> dict[str, Any]:
    """peft's count of ``peft_model``'s parameters beside the analytic LoRA count of ``config``."""
    trainable, total = peft_model.get_nb_trainable_parameters()  # counts 4-bit weights as parameters, not bytes
    return {"model": name, "total (with LoRA)": total, "trainable (analytic)": llama_lora_parameters(config, r, targets),
            "trainable (counted)": trainable, "share": trainable / total}


def training_arguments(run: Run, name: str, lr: float, **extra: Any):
    """``TrainingArguments`` of the run called ``name`` (``qlora_sft`` or ``head``, which names its
    ``<name>_epochs`` setting) at learning rate ``lr``.

    The effective batch is ``batch_size`` examples: ``per_device_batch_size`` per forward pass,
    accumulated. Mixed precision comes from ``run.precision`` (bf16 on GPUs of compute capability
    8.0 or higher, fp16 with loss scaling below, none on a CPU); ``optim`` is ``"paged_adamw_8bit"``
    on the GPU (8-bit Adam states, paged to CPU memory on spikes) and plain AdamW on a CPU.
    """
    from transformers import TrainingArguments

    settings, device = run.settings, run.device
    return TrainingArguments(
        output_dir=str(checkpoint_dir(run, name, lr)), save_strategy="steps", save_steps=settings.checkpoint_every,
        save_total_limit=1,  # only the last checkpoint stays on disk
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=max(1, settings.batch_size // settings.per_device_batch_size),
        learning_rate=lr, num_train_epochs=settings[f"{name}_epochs"], lr_scheduler_type=settings.scheduler,
        warmup_ratio=settings.warmup_ratio, weight_decay=settings.weight_decay, optim=settings.optim,
        **run.precision.trainer_flags(), use_cpu=device.type == "cpu", logging_steps=settings.logging_steps,
        report_to="none", seed=run.seed, data_seed=run.seed, disable_tqdm=False,
        dataloader_pin_memory=device.type == "cuda", **extra)


def checkpoint_dir(run: Run, name: str, lr: float) -> Path:
    """``OUTPUT_DIR/trainer/<name>-<digest>``: the digest covers the settings, seed, learning rate
    and library versions, so a rerun resumes only a checkpoint that the same code and settings wrote
    (any other starts over in a folder of its own)."""
    fingerprint = {"settings": run.settings.computing(), "seed": run.seed, "lr": lr, "versions": code_versions()}
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Path(run.output_dir) / "trainer" / f"{name}-{digest}"


def train_resumable(trainer: Any, tokens_per_sample: float = 0.0) -> tuple[RunStats, int]:
    """``trainer.train()``, resumed from the last checkpoint in its ``output_dir`` if a previous run
    of the same settings left one (a finished run resumes at its last step and trains no more).
    Returns the cost of the steps trained now and the step it resumed from (0: from scratch)."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(trainer.args.output_dir)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    resumed = int(Path(last).name.split("-")[-1]) if last else 0
    if last:
        print(f"resuming from {last} (step {resumed})")
    examples_per_step = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    with Meter(trainer.args.device) as meter:
        output = trainer.train(resume_from_checkpoint=last)
        done = max(output.global_step - resumed, 0)
        meter.count(samples=done * examples_per_step, tokens=round(done * examples_per_step * tokens_per_sample), steps=done)
    return meter.stats, resumed


def logged_losses(trainer: Any) -> list[dict[str, float]]:
    """The training losses a ``Trainer`` logged, as ``{"step", "loss"}`` rows for a learning curve."""
    losses = [{"step": r["step"], "loss": r["loss"]} for r in trainer.state.log_history if "loss" in r]
    if not losses:  # fewer steps than logging_steps: the mean loss of the whole run, at its last step
        losses = [{"step": r["step"], "loss": r["train_loss"]} for r in trainer.state.log_history if "train_loss" in r]
    return losses


def classification_dataset(texts: Sequence[str], labels: Sequence[int], tokenizer: Any, max_length: int) -> Any:
    """A ``datasets.Dataset`` of tokenized ``texts`` and their ``labels``, for a sequence-classification
    ``Trainer`` (padded per batch by ``DataCollatorWithPadding``)."""
    import datasets

    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return datasets.Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                                       "label": list(labels)})
