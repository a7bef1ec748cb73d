"""Training helpers: seeding, a plain PyTorch loop with checkpoints, and what a run costs.

:func:`train` is deliberately small: it draws a batch, computes a loss, steps the optimizer and
scheduler, evaluates every ``eval_every`` steps, saves a checkpoint every ``checkpoint.every``
steps, and resumes from that checkpoint when it finds one. :class:`Meter` measures wall time,
throughput and peak memory for any code, including ``Trainer.train()`` (:func:`run_trainer`).
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.core.progress import progress


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: the GPU when there is one, else the CPU; or an explicit ``"cpu"``/``"cuda[:n]"``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for, but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    return torch.device(name)


# ---------------------------------------------------------------------------------------------
# Measuring a run
# ---------------------------------------------------------------------------------------------


@dataclass
class RunStats:
    """What a training (or inference) run cost; goes into ``results.json`` as is."""

    wall_time_s: float = 0.0
    steps: int = 0
    samples: int = 0
    tokens: int = 0
    peak_memory_mb: float = 0.0
    memory_kind: str = ""
    device: str = ""

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.wall_time_s if self.wall_time_s else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_time_s if self.wall_time_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "samples_per_s": self.samples_per_s, "tokens_per_s": self.tokens_per_s}


_PROC_STATUS = Path("/proc/self/status")
_PROC_CLEAR_REFS = Path("/proc/self/clear_refs")  # writing "5" resets VmHWM to the current resident set


def peak_memory_mb(device: torch.device | str) -> tuple[float, str]:
    """Peak memory since the last :func:`reset_peak_memory` (or since the process started).

    On a GPU: CUDA's peak allocated bytes. On a CPU: the process's peak resident set, read from
    ``/proc`` on Linux (where the peak can be reset, so each run gets its own), else ``ru_maxrss``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_peak_allocated"
    if _PROC_STATUS.exists() and os.access(_PROC_CLEAR_REFS, os.W_OK):
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "process_peak_rss"  # the value is in kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kilobytes
    return peak * scale / 2**20, "process_peak_rss_since_start"


def reset_peak_memory(device: torch.device | str) -> None:
    """Start a new peak: CUDA's peak statistics, or on Linux the process's resident high-water mark."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return
    if os.access(_PROC_CLEAR_REFS, os.W_OK):
        _PROC_CLEAR_REFS.write_text("5")
    # elsewhere the peak counts from the process's start, and peak_memory_mb's kind says so


class Meter:
    """Context manager measuring wall time, counted samples/tokens and peak memory.

    The peak is reset on entry, so each run reports its own peak (see :func:`peak_memory_mb`).

    >>> with Meter("cpu") as meter:
    ...     meter.count(samples=32, tokens=32 * 128)
    >>> meter.stats.samples_per_s > 0
    True
    """

    def __init__(self, device: torch.device | str = "cpu", previous: RunStats | None = None):
        self.device = torch.device(device)
        self.stats = RunStats(**asdict(previous)) if previous else RunStats()
        self.stats.device = str(self.device)

    def __enter__(self) -> "Meter":
        reset_peak_memory(self.device)
        self._start = time.perf_counter()
        self._wall_before = self.stats.wall_time_s
        return self

    def count(self, samples: int = 0, tokens: int = 0, steps: int = 0) -> None:
        self.stats.samples += int(samples)
        self.stats.tokens += int(tokens)
        self.stats.steps += int(steps)

    def snapshot(self) -> RunStats:
        """The stats up to now (used for checkpoints taken inside the ``with`` block)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.stats.wall_time_s = self._wall_before + time.perf_counter() - self._start
        peak, kind = peak_memory_mb(self.device)
        self.stats.peak_memory_mb = max(self.stats.peak_memory_mb, peak)
        self.stats.memory_kind = kind
        return RunStats(**asdict(self.stats))

    def __exit__(self, *exc_info: Any) -> None:
        self.snapshot()


def count_batch(batch: Any) -> tuple[int, int]:
    """(samples, tokens) in a batch: ``(x, y)`` tensors, or a dict with ``input_ids``/``pixel_values``."""
    if isinstance(batch, Mapping):
        if "input_ids" in batch:
            ids = batch["input_ids"]
            mask = batch.get("attention_mask")
            return ids.shape[0], int(mask.sum()) if mask is not None else ids.numel()
        first = next(v for v in batch.values() if isinstance(v, torch.Tensor))
        return first.shape[0], 0
    if isinstance(batch, (tuple, list)) and isinstance(batch[0], torch.Tensor):
        x = batch[0]
        return x.shape[0], x.numel() if x.dtype == torch.long else 0
    raise TypeError(f"cannot count samples in a batch of type {type(batch).__name__}; pass count_batch=")


def move_to(batch: Any, device: torch.device) -> Any:
    """The batch with every tensor on ``device`` (tuples, lists and dicts are walked)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return type(batch)({k: move_to(v, device) for k, v in batch.items()})
    if isinstance(batch, (tuple, list)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


VERSIONED_FOR_RESUME = ("hwutils", "torch", "transformers", "peft", "datasets", "open_clip_torch", "bitsandbytes")


def code_versions() -> dict[str, str]:
    """Versions of hwutils and the libraries whose code decides a training run's numbers."""
    from importlib import metadata

    versions = {}
    for package in VERSIONED_FOR_RESUME:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


class Checkpointer:
    """Saves the training state to ``path`` every ``every`` steps and finds it again on a rerun.

    ``fingerprint`` (the settings the run depends on) is stored with the state, together with the
    versions of hwutils and the libraries that compute (:func:`code_versions`); a checkpoint written
    for another fingerprint (other settings, the other profile, or code that has changed since) is
    ignored, with a note saying why, and overwritten: training starts over instead of resuming
    into results that a fix has made stale.
    """

    def __init__(self, path: str | Path, every: int, fingerprint: Mapping[str, Any] | None = None):
        self.path = Path(path)
        self.every = int(every)
        self.fingerprint = {**dict(fingerprint or {}), "code_versions": code_versions()}

    def due(self, step: int, last_step: int) -> bool:
        return step == last_step or (self.every > 0 and step % self.every == 0)

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save({**state, "fingerprint": self.fingerprint}, tmp)
        os.replace(tmp, self.path)  # atomic: an interruption never leaves half a checkpoint

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        recorded = state.get("fingerprint") or {}
        if recorded != self.fingerprint:
            changed = sorted(k for k in set(recorded) | set(self.fingerprint) if recorded.get(k) != self.fingerprint.get(k))
            print(f"note: {self.path} was written for other settings or code ({', '.join(changed)} differ); "
                  "starting over (it will be overwritten)")
            return None
        return state


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Per-step training losses, evaluation records, and what the run cost."""

    losses: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss", "lr"}
    evals: list[dict[str, float]] = field(default_factory=list)  # {"step", <metric>: value, ...}
    stats: RunStats = field(default_factory=RunStats)
    resumed_from_step: int = 0


LossFn = Callable[[nn.Module, Any], torch.Tensor]


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    next_batch: Callable[[], Any],
    loss_fn: LossFn,
    *,
    steps: int,
    scheduler: Any = None,
    evaluate: Callable[[], Mapping[str, float]] | None = None,
    eval_every: int = 0,
    max_grad_norm: float | None = None,
    checkpoint: Checkpointer | None = None,
    generator: torch.Generator | None = None,
    count: Callable[[Any], tuple[int, int]] = count_batch,
    desc: str = "training",
    after_step: Callable[[int], None] | None = None,
    precision: Any = None,
) -> TrainResult:
    """Train ``model`` for ``steps`` optimizer steps and return losses, evaluations and costs.

    ``next_batch()`` returns the next batch (moved to the model's device here), ``loss_fn(model,
    batch)`` its scalar loss. ``evaluate()`` runs under ``torch.no_grad()`` in eval mode at step 0,
    every ``eval_every`` steps and at the end. With a ``checkpoint``, the model, optimizer,
    scheduler, RNG states (global torch and ``generator``, the batch sampler's) and the logs are
    saved every ``checkpoint.every`` steps and at the end; a rerun resumes from the last one.
    ``precision`` (a :class:`hwutils.core.precision.Precision`) runs the loss under autocast and,
    for float16, scales it so that small gradients do not underflow (unscaled before clipping).
    """
    device = next(model.parameters()).device
    result = TrainResult()
    start_step = 0
    autocast = precision.autocast if precision is not None else contextlib.nullcontext
    scaler = precision.grad_scaler() if precision is not None and precision.needs_loss_scaling else None
    state = checkpoint.load() if checkpoint else None
    if state is not None:
        start_step = _restore(state, model, optimizer, scheduler, generator, result)
        if scaler is not None and state.get("grad_scaler"):
            scaler.load_state_dict(state["grad_scaler"])
        result.resumed_from_step = start_step

    def run_evaluation(step: int) -> None:
        if evaluate is None:
            return
        model.eval()
        with torch.no_grad():
            metrics = dict(evaluate())
        model.train()
        result.evals.append({"step": step, **metrics})
        bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)

    model.train()
    bar = progress(total=steps, initial=start_step, desc=desc)
    with Meter(device, previous=result.stats) as meter:
        if start_step == 0:
            run_evaluation(0)
        for step in range(start_step + 1, steps + 1):
            batch = move_to(next_batch(), device)
            with autocast():
                loss = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:  # float16: scale the loss, unscale before clipping, skip steps that overflowed
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            samples, tokens = count(batch)
            meter.count(samples=samples, tokens=tokens, steps=1)
            result.losses.append({"step": step, "loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]})
            bar.update(1)
            if evaluate is not None and (step == steps or (eval_every and step % eval_every == 0)):
                run_evaluation(step)
            if checkpoint and checkpoint.due(step, steps):
                result.stats = meter.snapshot()
                state = _state(step, model, optimizer, scheduler, generator, result)
                state["grad_scaler"] = scaler.state_dict() if scaler is not None else None
                checkpoint.save(state)
            if after_step is not None:
                after_step(step)
    bar.close()
    result.stats = meter.stats
    return result


def _state(step, model, optimizer, scheduler, generator, result: TrainResult) -> dict[str, Any]:
    return {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "torch_rng": torch.get_rng_state(),
        "generator_rng": generator.get_state() if generator is not None else None,
        "losses": result.losses,
        "evals": result.evals,
        "stats": asdict(result.stats),
    }


def _restore(state, model, optimizer, scheduler, generator, result: TrainResult) -> int:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if generator is not None and state["generator_rng"] is not None:
        generator.set_state(state["generator_rng"])
    result.losses = list(state["losses"])
    result.evals = list(state["evals"])
    result.stats = RunStats(**state["stats"])
    return int(state["step"])


def run_trainer(trainer: Any, tokens_per_sample: float = 0.0) -> tuple[Any, RunStats]:
    """``trainer.train()`` (a ``transformers.Trainer``) measured like :func:`train`.

    Samples are the Trainer's own count (epochs x dataset size); pass ``tokens_per_sample`` (e.g.
    the mean sequence length) to get a tokens/s figure too.
    """
    with Meter(trainer.args.device) as meter:
        output = trainer.train()
        samples = round(output.metrics.get("train_samples_per_second", 0) * output.metrics.get("train_runtime", 0))
        meter.count(samples=samples, tokens=round(samples * tokens_per_sample), steps=output.global_step)
    return output, meter.stats
