"""Fine-tuning a ``transformers`` sequence classifier with the project's training loop.

* :func:`encode` tokenizes one text column (a review) or a pair of columns (premise, hypothesis)
  without padding; :class:`BatchStream` draws shuffled batches and pads each one only to its own
  longest sequence (dynamic padding: short batches cost less than ``max_length`` would).
* :func:`fine_tune` trains whatever parameters of the model require gradients, with AdamW and a
  linear warm-up/decay schedule, through :func:`hwutils.core.training.train` (losses, evaluations,
  wall time, throughput and peak memory come back measured).
* :func:`predict` returns logits in the dataset's order, batching sequences of similar length.

The same functions serve full fine-tuning, LoRA and the prompt methods: a PEFT method only changes
which parameters are trainable and what the forward pass adds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.core.training import Checkpointer, TrainResult, train


def encode(dataset, tokenizer, text_columns: Sequence[str], max_length: int, label_column: str = "label"):
    """``dataset`` tokenized (``input_ids``, ``attention_mask``) with its labels, truncated to ``max_length``
    tokens and not padded. Two ``text_columns`` are encoded as a pair (``<s> A </s></s> B </s>`` in RoBERTa)."""
    if len(text_columns) not in (1, 2):
        raise ConfigError(f"encode takes one text column or a pair of them, got {list(text_columns)}")

    def tokenize(rows):
        return tokenizer(*[rows[c] for c in text_columns], truncation=True, max_length=max_length)

    dropped = [c for c in dataset.column_names if c != label_column]
    return dataset.map(tokenize, batched=True, remove_columns=dropped, keep_in_memory=True, desc="tokenizing")


def pad_batch(rows: Sequence[Mapping[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad ``rows`` on the right to the longest of them (dynamic padding); ``label`` becomes ``labels``."""
    longest = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), longest), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
        attention_mask[i, : len(row["input_ids"])] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "label" in rows[0]:
        batch["labels"] = torch.tensor([row["label"] for row in rows], dtype=torch.long)
    return batch


def as_rows(encoded) -> list[dict[str, Any]]:
    """The rows of an encoded dataset as plain dicts (fast to index, step after step)."""
    columns = [c for c in ("input_ids", "label") if c in encoded.column_names]
    values = [encoded[c] for c in columns]
    return [dict(zip(columns, row)) for row in zip(*values)]


class BatchStream:
    """Endless training batches: each epoch is a new permutation drawn from ``generator``, cut into
    batches of ``batch_size`` that are padded to their own longest sequence."""

    def __init__(self, encoded, pad_token_id: int, batch_size: int, generator: torch.Generator):
        self.rows = as_rows(encoded)
        self.pad_token_id = pad_token_id
        self.batch_size = batch_size
        self.generator = generator
        self._order: list[int] = []
        self._position = 0

    def __call__(self) -> dict[str, torch.Tensor]:
        if self._position + self.batch_size > len(self._order):  # a new epoch (a last partial batch is dropped)
            self._order = torch.randperm(len(self.rows), generator=self.generator).tolist()
            self._position = 0
        chosen = self._order[self._position : self._position + self.batch_size]
        self._position += self.batch_size
        return pad_batch([self.rows[i] for i in chosen], self.pad_token_id)


def steps_for(epochs: float, n_examples: int, batch_size: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``n_examples`` (at least one)."""
    return max(1, round(epochs * n_examples / batch_size))


class TrainableState(nn.Module):
    """``model`` whose state dict holds only its trainable tensors, so that a training checkpoint of
    LoRA or a prompt method weighs megabytes, not the whole frozen base (1.4 GB for roberta-large)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        # copied to the CPU: a full fine-tuning checkpoint must not need a second copy of the model in GPU memory
        return {name: p.detach().to("cpu", copy=True) for name, p in self.model.named_parameters() if p.requires_grad}

    def load_state_dict(self, state: Mapping[str, torch.Tensor], strict: bool = True, assign: bool = False):
        parameters = dict(self.model.named_parameters())
        missing = [name for name, p in parameters.items() if p.requires_grad and name not in state]
        if strict and (missing or set(state) - set(parameters)):
            raise RuntimeError(f"checkpoint does not match the trainable parameters (missing {missing[:3]}...)")
        with torch.no_grad():
            for name, tensor in state.items():
                parameters[name].copy_(tensor)


def autocast_context(device: torch.device, dtype_name: str):
    """``torch.autocast`` in bfloat16 for ``"bfloat16"``; ``"auto"`` picks bfloat16 on GPUs that support it
    and plain float32 elsewhere; ``"float32"`` disables autocast. (float16 is not offered: training in it
    needs loss scaling, which bfloat16's wider exponent makes unnecessary.)"""
    if dtype_name == "auto":
        dtype_name = "bfloat16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    if dtype_name == "float32":
        return contextlib.nullcontext()
    if dtype_name != "bfloat16":
        raise ConfigError(f"autocast dtype must be auto, float32 or bfloat16, got {dtype_name!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; biases and layer-norm gains are not decayed (as in BERT)."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("the model has no trainable parameter")
    groups = [
        {"params": [p for n, p in trainable if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for n, p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def fine_tune(
    model: nn.Module,
    batches: Callable[[], Mapping[str, torch.Tensor]],
    *,
    lr: float,
    steps: int,
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    evaluate: Callable[[], Mapping[str, float]] | None = None,
    eval_every: int = 0,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    fingerprint: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
    autocast_dtype: str = "auto",
    desc: str = "fine-tuning",
) -> TrainResult:
    """Train the trainable parameters of a classifier (``model(**batch).loss``) for ``steps`` steps.

    The learning rate warms up linearly over ``warmup_ratio`` of the steps, then decays linearly
    to zero (the schedule of BERT and RoBERTa). With ``checkpoint`` (a file path), the trainable
    weights and the optimizer are saved every ``checkpoint_every`` steps and at the end, and a rerun
    with the same ``fingerprint`` resumes from there (or reuses a finished run).
    """
    from transformers import get_linear_schedule_with_warmup

    device = next(model.parameters()).device
    optimizer = make_optimizer(model, lr, weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(warmup_ratio * steps), steps)
    checkpointer = Checkpointer(checkpoint, checkpoint_every, {"lr": lr, "steps": steps, **(fingerprint or {})}) \
        if checkpoint else None

    def loss_fn(module: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        with autocast_context(device, autocast_dtype):
            return module(**batch).loss

    return train(TrainableState(model), optimizer, batches, loss_fn, steps=steps, scheduler=scheduler,
                 evaluate=evaluate, eval_every=eval_every, max_grad_norm=max_grad_norm, checkpoint=checkpointer,
                 generator=generator, desc=desc)


@torch.no_grad()
def predict(model: nn.Module, encoded, pad_token_id: int, batch_size: int, autocast_dtype: str = "auto") -> np.ndarray:
    """Logits for every row of ``encoded``, in its order; rows of similar length share a batch."""
    device = next(model.parameters()).device
    rows = as_rows(encoded)
    order = np.argsort([len(row["input_ids"]) for row in rows], kind="stable")
    was_training = model.training
    model.eval()
    logits = []
    for start in range(0, len(order), batch_size):
        batch = pad_batch([rows[i] for i in order[start : start + batch_size]], pad_token_id)
        batch.pop("labels", None)
        with autocast_context(device, autocast_dtype):
            logits.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu())
    model.train(was_training)
    result = np.empty((len(order), logits[0].shape[-1]), dtype=np.float32)
    result[order] = torch.cat(logits).numpy()
    return result
