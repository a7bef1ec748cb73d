"""The QLoRA recipe: LoRA adapters on a 4-bit model, trained with transformers' ``Trainer``.

* :func:`lora_config` reads rank, scale, dropout and targets from the settings;
* :func:`add_lora` prepares a 4-bit model for training (``prepare_model_for_kbit_training``) and
  wraps it with adapters (seeded, so the adapters' initialisation is reproducible);
* :func:`lora_count_row` compares peft's count of trainable parameters with the analytic one
  (:func:`hwutils.llm.architecture.llama_lora_parameters`);
* :func:`training_arguments` builds the ``TrainingArguments`` of one run from the settings and the
  run's precision, the same way for supervised fine-tuning and the classification head.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from hwutils.core.run import Run
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
    """``TrainingArguments`` of the run called ``name`` at learning rate ``lr``.

    The effective batch is ``batch_size`` examples: ``per_device_batch_size`` per forward pass,
    accumulated. Mixed precision comes from ``run.precision`` (bf16 on GPUs of compute capability
    8.0 or higher, fp16 with loss scaling below, none on a CPU); ``optim`` is ``"paged_adamw_8bit"``
    on the GPU (8-bit Adam states, paged to CPU memory on spikes) and plain AdamW on a CPU.
    """
    from transformers import TrainingArguments

    settings, device = run.settings, run.device
    return TrainingArguments(
        output_dir=str(run.output_dir / "trainer" / name), per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=max(1, settings.batch_size // settings.per_device_batch_size),
        learning_rate=lr, num_train_epochs=settings.epochs, lr_scheduler_type=settings.scheduler,
        warmup_ratio=settings.warmup_ratio, weight_decay=settings.weight_decay, optim=settings.optim,
        **run.precision.trainer_flags(), use_cpu=device.type == "cpu", logging_steps=settings.logging_steps,
        save_strategy="no", report_to="none", seed=run.seed, data_seed=run.seed, disable_tqdm=False,
        dataloader_pin_memory=device.type == "cuda", **extra)


def logged_losses(trainer: Any) -> list[dict[str, float]]:
    """The training losses a ``Trainer`` logged, as ``{"step", "loss"}`` rows for a learning curve."""
    return [{"step": r["step"], "loss": r["loss"]} for r in trainer.state.log_history if "loss" in r]


def classification_dataset(texts: Sequence[str], labels: Sequence[int], tokenizer: Any, max_length: int) -> Any:
    """A ``datasets.Dataset`` of tokenized ``texts`` and their ``labels``, for a sequence-classification
    ``Trainer`` (padded per batch by ``DataCollatorWithPadding``)."""
    import datasets

    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return datasets.Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                                       "label": list(labels)})
