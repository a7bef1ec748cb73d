"""Fine-tuning a ``transformers`` sequence classifier with the project's training loop.

* :func:`encode` tokenizes one text column (a review) or a pair of columns (premise, hypothesis)
  without padding; :class:`BatchStream` draws shuffled batches and pads each one only to its own
  longest sequence (dynamic padding: short batches cost less than ``max_length`` would).
* :func:`fine_tune` trains whatever parameters of the model require gradients, with AdamW and a
  linear warm-up/decay schedule, through :func:`hwutils.core.training.train` (losses, evaluations,
  wall time, throughput and peak memory come back measured).
* :func:`predict` returns logits in the dataset's order, batching sequences of similar length.
* Both compute in the run's precision (:class:`hwutils.core.precision.Precision`): bfloat16 or
  float16 autocast on a GPU; the core loop scales the loss for float16 (and keeps the scaler's
  state in its checkpoints).

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
from hwutils.core.precision import Precision
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
    batches of ``batch_size`` that are padded to their own longest sequence.

    Its state (the generator's, the current epoch's order and the position in it) is what the
    core loop checkpoints as the batch sampler's (``get_state`` / ``set_state``, like a
    ``torch.Generator``), so a run killed mid-epoch resumes with exactly the batches it would have seen.
    """

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

    def get_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": torch.tensor(self._order, dtype=torch.long),
                "position": self._position}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self._order, self._position = state["order"].tolist(), int(state["position"])


def steps_for(epochs: float, n_examples: int, batch_size: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``n_examples`` (at least one)."""
    return max(1, round(epochs * n_examples / batch_size))


def sample(encoded, n: int, seed: int):
    """A seeded random ``n`` rows of ``encoded`` (all of it when ``n`` is 0 or larger than it)."""
    if not n or n >= len(encoded):
        return encoded
    return encoded.shuffle(seed=seed).select(range(n))


def first_batches(encoded, n_batches: int, batch_size: int, pad_token_id: int) -> list[dict[str, torch.Tensor]]:
    """The first ``n_batches`` batches of ``encoded`` in its order, each padded to its longest row."""
    rows = as_rows(encoded)[: n_batches * batch_size]
    return [pad_batch(rows[start : start + batch_size], pad_token_id) for start in range(0, len(rows), batch_size)]


def length_summary(encoded_splits: Mapping[str, Any], max_length: int) -> list[dict[str, Any]]:
    """Per split: mean, 95th percentile and longest length in tokens, and the share cut at ``max_length``."""
    rows = []
    for name, encoded in encoded_splits.items():
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        rows.append({"split": name, "mean tokens": float(lengths.mean()), "95th percentile": float(np.percentile(lengths, 95)),
                     "longest": int(lengths.max()), "truncated share": float(np.mean(lengths >= max_length))})
    return rows


def padded_positions(lengths: Sequence[int], batch_size: int, max_length: int, seed: int) -> dict[str, int]:
    """Positions one epoch of shuffled batches feeds the model: ``dynamic`` (each batch padded to its
    longest row), ``fixed`` (every row padded to ``max_length``), and the real ``tokens`` among them."""
    lengths = np.asarray(lengths)
    order = np.random.default_rng(seed).permutation(len(lengths))
    batches = [lengths[order[start : start + batch_size]] for start in range(0, len(order), batch_size)]
    return {"dynamic": int(sum(len(b) * b.max() for b in batches)), "fixed": len(lengths) * max_length,
            "tokens": int(lengths.sum())}


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
    precision: Precision,
    desc: str = "fine-tuning",
) -> TrainResult:
    """Train the trainable parameters of a classifier (``model(**batch).loss``) for ``steps`` steps,
    in ``precision`` (the core loop autocasts, and scales the loss for float16).

    The learning rate warms up linearly over ``warmup_ratio`` of the steps, then decays linearly
    to zero (the schedule of BERT and RoBERTa). With ``checkpoint`` (a file path), the trainable
    weights, the optimizer and the state of ``batches`` (when it has ``get_state``, as
    :class:`BatchStream` does) are saved every ``checkpoint_every`` steps and at the end, and a rerun
    with the same ``fingerprint`` (and the same library versions) resumes from there, or reuses a
    finished run.
    """
    from transformers import get_linear_schedule_with_warmup

    optimizer = make_optimizer(model, lr, weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(warmup_ratio * steps), steps)
    checkpointer = Checkpointer(checkpoint, checkpoint_every,
                                {"lr": lr, "steps": steps, "precision": precision.name, **(fingerprint or {})}) \
        if checkpoint else None
    sampler_state = batches if hasattr(batches, "get_state") else None
    return train(TrainableState(model), optimizer, batches, lambda module, batch: module(**batch).loss, steps=steps,
                 scheduler=scheduler, evaluate=evaluate, eval_every=eval_every, max_grad_norm=max_grad_norm,
                 checkpoint=checkpointer, generator=sampler_state, precision=precision, desc=desc)


@torch.no_grad()
def predict(model: nn.Module, encoded, pad_token_id: int, batch_size: int, precision: Precision | None = None) -> np.ndarray:
    """Logits for every row of ``encoded``, in its order; rows of similar length share a batch.
    They are computed under ``precision``'s autocast (``None``: plain float32)."""
    device = next(model.parameters()).device
    rows = as_rows(encoded)
    order = np.argsort([len(row["input_ids"]) for row in rows], kind="stable")
    was_training = model.training
    model.eval()
    logits = []
    for start in range(0, len(order), batch_size):
        batch = pad_batch([rows[i] for i in order[start : start + batch_size]], pad_token_id)
        batch.pop("labels", None)
        with precision.autocast() if precision is not None else contextlib.nullcontext():
            logits.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu())
    model.train(was_training)
    result = np.empty((len(order), logits[0].shape[-1]), dtype=np.float32)
    result[order] = torch.cat(logits).numpy()
    return result
