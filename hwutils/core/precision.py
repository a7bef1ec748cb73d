"""Which floating-point precision a run computes in, decided once from what the device can do.

* **bfloat16** only where the GPU computes it natively: compute capability 8.0 or higher (A100,
  L4, RTX 30xx and newer). ``torch.cuda.is_bf16_supported()`` also says yes where bf16 is only
  emulated (a T4, 7.5), which would be slow, so it is not asked.
* **float16** autocast with loss scaling on older GPUs (T4, P100, V100): their tensor cores do fp16.
* **float32** on a CPU.

The ``precision`` setting is ``"auto"`` (the rule above) or an explicit ``"float32"``,
``"bfloat16"`` or ``"float16"``; an explicit choice the device cannot honour fails with one line.
On a CPU, ``"bfloat16"`` is allowed: it is how the tests exercise the GPU's bf16 branches.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: settings load without it
    import torch

from hwutils.core.errors import ConfigError

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
BF16_MIN_CAPABILITY = (8, 0)
ACCELERATE_PRECISION_ENV = "ACCELERATE_MIXED_PRECISION"  # read by transformers and accelerate


@dataclass(frozen=True)
class Precision:
    """The precision of a run: the autocast dtype (``None`` for plain float32) and why it was chosen."""

    name: str  # "float32", "bfloat16" or "float16"
    device_type: str  # "cpu" or "cuda"
    reason: str

    @property
    def dtype(self) -> "torch.dtype":
        import torch

        return getattr(torch, self.name)

    @property
    def autocast_enabled(self) -> bool:
        return self.name != "float32"

    @property
    def needs_loss_scaling(self) -> bool:
        """float16 gradients underflow without a loss scale; bfloat16 has float32's exponent range."""
        return self.name == "float16"

    def autocast(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` in this precision, or a no-op for float32."""
        if not self.autocast_enabled:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> Any:
        """A ``torch.amp.GradScaler`` that is active only for float16."""
        import torch

        return torch.amp.GradScaler(self.device_type, enabled=self.needs_loss_scaling)

    def trainer_flags(self) -> dict[str, bool]:
        """``bf16`` / ``fp16`` arguments of ``transformers.TrainingArguments``, with the process's
        ``ACCELERATE_MIXED_PRECISION`` set to match.

        Why the variable: ``TrainingArguments(bf16=True)`` writes ``ACCELERATE_MIXED_PRECISION=bf16``
        into ``os.environ``, and every later ``TrainingArguments`` of the process (and of any kernel
        it starts) reads it back as its default, so a float32 ``Trainer`` built after a bf16 one
        silently trains under bf16 autocast. Setting it here makes each ``Trainer`` use exactly
        this precision."""
        os.environ[ACCELERATE_PRECISION_ENV] = {"bfloat16": "bf16", "float16": "fp16"}.get(self.name, "no")
        return {"bf16": self.name == "bfloat16", "fp16": self.name == "float16"}

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def cuda_capability(device: "torch.device") -> tuple[int, int]:
    """The compute capability of a CUDA device, e.g. ``(7, 5)`` for a T4."""
    import torch

    return tuple(torch.cuda.get_device_capability(device))  # type: ignore[return-value]


def choose_precision(device: "torch.device | str", requested: str = "auto") -> Precision:
    """The precision for ``device``: ``requested`` checked against what the device supports, or the
    best native one for ``"auto"``."""
    if requested not in PRECISIONS:
        raise ConfigError(f"unknown precision {requested!r}; valid precisions: {', '.join(PRECISIONS)}")
    import torch

    device = torch.device(device)
    if requested == "float32":
        return Precision("float32", device.type, "full precision")
    if device.type != "cuda":
        if requested == "auto":
            return Precision("float32", device.type, "CPU: full precision")
        return Precision(requested, device.type, "asked for by the precision setting (CPU autocast)")
    capability = cuda_capability(device)
    native_bf16 = capability >= BF16_MIN_CAPABILITY
    label = f"compute capability {capability[0]}.{capability[1]}"
    if requested == "auto":
        if native_bf16:
            return Precision("bfloat16", "cuda", f"{label}: native bfloat16")
        return Precision("float16", "cuda", f"{label}: no native bfloat16, float16 with loss scaling")
    if requested == "bfloat16" and not native_bf16:
        raise ConfigError(f"precision 'bfloat16' needs a GPU of compute capability 8.0 or higher (this one has {label}); "
                          "use precision='float16' or 'auto'")
    return Precision(requested, "cuda", f"{label}: asked for by the precision setting")
