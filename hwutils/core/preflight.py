"""Will the full profile fit this GPU? An analytic estimate of memory, time and disk, before any download.

Each topic package describes its notebook's methods at full-profile size as :class:`Workload`\\ s
(``hwutils/<topic>/preflight.py``: a function ``workloads(settings)``): the real architecture built
on PyTorch's *meta* device (shapes only: nothing is allocated or downloaded), one training batch of
meta tensors, and what trains. From these, for each GPU:

* **weights**: every parameter at the bytes it is stored in (fp32 4, bf16/fp16 2, NF4 about 0.53);
* **gradients and optimizer state**: the trainable parameters' fp32 gradients and AdamW's two fp32
  moments (8-bit AdamW keeps two bytes);
* **activations**: the tensors autograd saves for the backward pass, counted exactly during one
  forward pass on the meta device (``torch.autograd.graph.saved_tensors_hooks``), halved where
  the GPU computes in bf16/fp16; with gradient checkpointing, the layer inputs plus one layer
  recomputed; plus the largest saved tensor once more for its gradient. An inference pass keeps
  nothing for a backward pass: three times its largest intermediate tensor;
* **time**: the FLOPs of one training step counted on the meta device
  (``torch.utils.flop_counter``), times the steps, over the GPU's peak throughput at an assumed
  utilisation (:data:`UTILISATION`): an estimate, and said to be one.

A GPU is said to fit a workload when the estimate leaves :data:`HEADROOM` of the memory free after
the CUDA context. On a CPU the same estimate is compared with the machine's RAM; the smoke profile
is never blocked. ``benchmarks/preflight_accuracy.py`` checks the estimate against measured peaks.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hwutils.core.errors import ConfigError

GIB = 2**30
CUDA_CONTEXT_GIB = 0.5  # CUDA context, cuBLAS workspace and kernels, held before any tensor
HEADROOM = 0.10  # share of the remaining memory kept free for the caching allocator's fragmentation
UTILISATION = 0.30  # assumed share of the GPU's peak FLOP/s a training step attains (an assumption, not a measurement)
OPTIMIZER_STATE_BYTES = {"adamw": 8.0, "adamw_torch": 8.0, "adam": 8.0, "adamw_8bit": 2.0, "paged_adamw_8bit": 2.0,
                         "sgd_momentum": 4.0, "sgd": 0.0, "none": 0.0}


@dataclass(frozen=True)
class GPU:
    """A GPU students are given, as ``nvidia-smi`` reports its memory, with its dense peak FLOP/s."""

    key: str
    name: str
    memory_mib: int
    capability: tuple[int, int]
    half_tflops: float  # fp16/bf16 tensor cores, dense
    fp32_tflops: float

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024

    @property
    def is_cpu(self) -> bool:
        return self.capability == (0, 0)

    @property
    def half_precision(self) -> str:
        """What ``precision="auto"`` computes in here (see :mod:`hwutils.core.precision`): bfloat16
        from compute capability 8.0, float16 below, float32 on a CPU."""
        if self.is_cpu:
            return "float32"
        return "bfloat16" if self.capability >= (8, 0) else "float16"


GPUS: dict[str, GPU] = {
    "t4": GPU("t4", "T4 16 GB", 15360, (7, 5), 65.0, 8.1),
    "l4": GPU("l4", "L4 24 GB", 23034, (8, 9), 121.0, 30.3),
    "a100": GPU("a100", "A100 40 GB", 40960, (8, 0), 312.0, 19.5),
}


@dataclass
class Workload:
    """One method of a notebook at full-profile size, described for the estimator.

    ``build()`` returns the model on the meta device with its trainable parameters marked
    (``requires_grad``); ``batch()`` one forward pass of meta tensors (the per-device batch);
    ``loss(model, batch)`` the scalar to back-propagate (default: ``model(**batch).loss``).
    """

    name: str
    build: Callable[[], nn.Module]
    batch: Callable[[], Any]
    loss: Callable[[nn.Module, Any], torch.Tensor] | None = None
    training: bool = True
    autocast: bool = True  # False: the method computes in float32 even on a GPU
    frozen_bytes_per_parameter: float = 4.0  # 2 for a bf16/fp16 model, about 0.53 for NF4
    optimizer: str = "adamw"
    gradient_checkpointing: bool = False
    layers: int = 0  # checkpointed blocks (for the one block recomputed at a time)
    steps: int = 0  # optimizer steps of the full run (for the time estimate)
    forward_passes: int = 0  # extra inference batches (evaluation, scoring)
    extra_bytes: int = 0  # anything else held on the GPU, e.g. a second model
    extra_note: str = ""
    remedy: str = ""  # the settings that make it fit a smaller GPU, for the one-line error


@dataclass
class Measure:
    """What one workload's forward (and backward) pass holds and costs, from the meta device."""

    parameters: int
    trainable: int
    saved_float32: int  # bytes of float32 tensors saved for backward
    saved_other: int  # bytes of other saved tensors (half precision, integer, bool)
    largest_saved: int
    step_flops: float  # one forward + backward (training) or forward (inference)
    saved_with_checkpointing: int = 0
    largest_output: int = 0  # bytes of the largest tensor an inference pass produces


@dataclass
class Estimate:
    """Peak GPU memory of one workload on one GPU, by part (bytes), and its run time."""

    workload: str
    gpu: GPU
    precision: str
    weights: float
    gradients: float
    optimizer: float
    activations: float
    extra: float
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.extra

    @property
    def usable(self) -> float:
        context = 0.0 if self.gpu.is_cpu else CUDA_CONTEXT_GIB
        return (self.gpu.memory_gib - context) * (1 - HEADROOM) * GIB

    @property
    def fits(self) -> bool:
        return self.total <= self.usable

    def row(self) -> dict[str, Any]:
        return {"method": self.workload, "GPU": self.gpu.name, "precision": self.precision,
                "weights (GiB)": self.weights / GIB, "gradients + optimizer (GiB)": (self.gradients + self.optimizer) / GIB,
                "activations (GiB)": self.activations / GIB, "other (GiB)": self.extra / GIB,
                "peak (GiB)": self.total / GIB, "fits": "yes" if self.fits else "NO",
                "time (estimate)": format_duration(self.seconds)}


def _default_loss(model: nn.Module, batch: Any) -> torch.Tensor:
    output = model(**batch) if isinstance(batch, Mapping) else model(*batch)
    loss = getattr(output, "loss", output)
    return loss if loss.dim() == 0 else loss.float().mean()


@contextlib.contextmanager
def meta_autocast() -> Iterator[None]:
    """Let models that switch autocast off inside their forward pass (Llama's and Qwen's rotary
    embeddings do, for the input's device type) run on the meta device, where ``torch.autocast``
    refuses the device type "meta": there, and only there, the switch becomes a no-op."""
    real = torch.autocast

    def autocast(device_type: str, *args: Any, **kwargs: Any):
        return contextlib.nullcontext() if device_type == "meta" else real(device_type, *args, **kwargs)

    torch.autocast = autocast  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.autocast = real  # type: ignore[misc]


def measure(workload: Workload) -> Measure:
    """Count parameters, saved activations and FLOPs of ``workload`` on the meta device."""
    with meta_autocast():
        return _measure(workload)


def _measure(workload: Workload) -> Measure:
    from torch.utils.flop_counter import FlopCounterMode

    model = workload.build()
    parameters = list(model.parameters())
    parameter_ids = {id(p) for p in parameters}
    loss_fn = workload.loss or _default_loss

    def saved_bytes(checkpointing: bool) -> tuple[int, int, int]:
        if checkpointing and hasattr(model, "gradient_checkpointing_enable"):
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        seen: dict[int, tuple[int, bool]] = {}

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            base = tensor._base if tensor._base is not None else tensor
            if id(base) not in parameter_ids and id(tensor) not in parameter_ids:
                seen.setdefault(id(base), (base.numel() * base.element_size(), base.dtype == torch.float32))
            return tensor

        model.train(workload.training)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss_fn(model, workload.batch())
        if checkpointing and hasattr(model, "gradient_checkpointing_disable"):
            model.gradient_checkpointing_disable()
        float32 = sum(size for size, is_float32 in seen.values() if is_float32)
        other = sum(size for size, is_float32 in seen.values() if not is_float32)
        return float32, other, max((size for size, _ in seen.values()), default=0)

    float32, other, largest = saved_bytes(False) if workload.training else (0, 0, 0)
    with_checkpointing = sum(saved_bytes(True)[:2]) if workload.training and workload.gradient_checkpointing else 0
    outputs = _LargestOutput()
    with FlopCounterMode(display=False) as counter:
        if workload.training:
            loss_fn(model, workload.batch()).backward()
        else:
            with torch.no_grad(), outputs:
                loss_fn(model, workload.batch())
    return Measure(sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad),
                   float32, other, largest, float(counter.get_total_flops()), with_checkpointing, outputs.largest)


class _LargestOutput(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the largest tensor any operation produces (an inference pass holds little else at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(r.alias_info is not None for r in func._schema.returns):  # a view (a transpose, a slice) allocates nothing
            return out
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel() * tensor.element_size())
        return out


def estimate(workload: Workload, gpu: GPU, measured: Measure | None = None) -> Estimate:
    """Peak memory and time of ``workload`` on ``gpu`` (``measured`` is reused across GPUs)."""
    m = measured or measure(workload)
    if workload.optimizer not in OPTIMIZER_STATE_BYTES:
        raise ConfigError(f"unknown optimizer {workload.optimizer!r}; known: {', '.join(OPTIMIZER_STATE_BYTES)}")
    precision = gpu.half_precision if workload.autocast else "float32"
    half = precision != "float32"
    scale = 0.5 if half else 1.0  # autocast runs matmuls in half precision: their saved inputs and outputs halve
    notes = []
    if workload.training:  # trainable parameters stay float32 (the optimizer updates them); frozen ones as stored
        weights = (m.parameters - m.trainable) * workload.frozen_bytes_per_parameter + m.trainable * 4.0
    else:  # inference: every parameter as stored
        weights = m.parameters * workload.frozen_bytes_per_parameter
    gradients = m.trainable * 4.0 if workload.training else 0.0
    optimizer = m.trainable * OPTIMIZER_STATE_BYTES[workload.optimizer] if workload.training else 0.0
    full_activations = m.saved_float32 * scale + m.saved_other
    if not workload.training:  # the largest intermediate, its input and one temporary
        activations = 3.0 * m.largest_output * (scale if half else 1.0)
    elif workload.gradient_checkpointing and workload.layers:
        kept = m.saved_with_checkpointing * scale
        activations = kept + max(full_activations - kept, 0) / workload.layers
        notes.append("gradient checkpointing: layer inputs kept, one layer recomputed at a time")
    else:
        activations = full_activations
    activations += m.largest_saved * scale  # the gradient of the largest activation, during backward
    if not workload.training:
        notes.append("inference only")
    throughput = (gpu.half_tflops if half else gpu.fp32_tflops) * 1e12 * UTILISATION
    passes = workload.steps + workload.forward_passes / (3 if workload.training else 1)
    seconds = m.step_flops * passes / throughput if passes else 0.0
    if workload.extra_note:
        notes.append(workload.extra_note)
    return Estimate(workload.name, gpu, precision, weights, gradients, optimizer, activations,
                    float(workload.extra_bytes), seconds, notes)


def estimate_all(workloads: Sequence[Workload], gpus: Iterable[GPU] = GPUS.values()) -> list[Estimate]:
    """Every workload on every GPU (each workload is measured once)."""
    gpus = list(gpus)
    estimates = []
    for workload in workloads:
        measured = measure(workload)
        estimates += [estimate(workload, gpu, measured) for gpu in gpus]
    return estimates


def fit_table(estimates: Sequence[Estimate]) -> list[dict[str, Any]]:
    """One row per method, one column per GPU: the peak estimate, whether it fits, and the time."""
    rows: dict[str, dict[str, Any]] = {}
    for e in estimates:
        row = rows.setdefault(e.workload, {"method": e.workload})
        row[e.gpu.name] = f"{e.total / GIB:.1f} GiB {'fits' if e.fits else 'DOES NOT FIT'}, ~{format_duration(e.seconds)}"
    return list(rows.values())


def format_duration(seconds: float) -> str:
    if seconds <= 0:
        return "n/a"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def detected_device_memory(device: torch.device) -> tuple[str, float]:
    """(name, GiB) of the device a run computes on: the GPU's memory, or the machine's RAM."""
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return properties.name, properties.total_memory / GIB
    import psutil

    return "CPU RAM", psutil.virtual_memory().total / GIB


def device_as_gpu(device: torch.device) -> GPU:
    """The detected device described like the table's GPUs (a CPU as float32 with its RAM)."""
    name, gib = detected_device_memory(device)
    if device.type == "cuda":
        capability = tuple(torch.cuda.get_device_capability(device))
        known = next((g for g in GPUS.values() if g.capability == capability and abs(g.memory_gib - gib) < 2), None)
        return known or GPU("this", name, int(gib * 1024), capability, 65.0, 10.0)  # unknown GPU: T4-like speed
    return GPU("this", name, int(gib * 1024), (0, 0), 0.0, 0.5)


def check_device(workloads: Sequence[Workload], device: torch.device, profile: str, mode: str = "stop") -> list[Estimate]:
    """Estimate ``workloads`` on the detected device; in the full profile, stop with one line when
    one does not fit (``mode="stop"``), unless the user chose ``mode="warn"`` (run anyway) or ``"off"``.
    The smoke profile is never blocked."""
    if mode not in ("stop", "warn", "off"):
        raise ConfigError(f"unknown preflight mode {mode!r}; valid modes: off, stop, warn")
    if mode == "off":
        return []
    target = device_as_gpu(device)
    estimates = [estimate(w, target) for w in workloads]
    too_big = [e for e in estimates if not e.fits]
    if too_big and profile == "full" and mode == "stop":
        worst = max(too_big, key=lambda e: e.total)
        workload = next(w for w in workloads if w.name == worst.workload)
        raise ConfigError(
            f"{worst.workload} needs about {worst.total / GIB:.1f} GiB but {target.name} has "
            f"{target.memory_gib:.1f} GiB; " + (f"set {workload.remedy}, or " if workload.remedy else "")
            + "OVERRIDES={'preflight': 'warn'} (or --set preflight=warn) to run anyway")
    return estimates


def largest(estimates: Sequence[Estimate], gpu: GPU) -> Estimate | None:
    """The workload with the highest peak on ``gpu``."""
    on_gpu = [e for e in estimates if e.gpu.key == gpu.key]
    return max(on_gpu, key=lambda e: e.total) if on_gpu else None


def total_seconds(estimates: Sequence[Estimate], gpu: GPU) -> float:
    return sum(e.seconds for e in estimates if e.gpu.key == gpu.key)


def bytes_of(parameters: int, bytes_per_parameter: float) -> int:
    """Bytes of ``parameters`` stored at ``bytes_per_parameter`` (for disk and download estimates)."""
    return int(math.ceil(parameters * bytes_per_parameter))
