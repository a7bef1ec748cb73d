"""What training the MLP costs: memory from its architecture, time measured on this device.

Nothing here needs the full dataset: the full profile's architecture is timed on random rows of
the right shape, for a few steps, and the run time follows from the number of steps. Everything
is an estimate, and the notebook says so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hwutils.imbalanced.model import FraudMLP, forward_flops_per_row, mlp_parameters
from hwutils.imbalanced.training import random_rows

BYTES_FP32 = 4
T4_PEAK_FP32_FLOPS = 8.1e12  # NVIDIA's published float32 peak of the T4 (background, not measured here)
# A step of an MLP this small on a GPU is bound by kernel launches, not arithmetic: some thirty
# small kernels (forward, backward, Adam) of a few microseconds each, plus copying the batch.
ASSUMED_GPU_STEP_S = 1e-3  # an assumption, not a measurement: no GPU is available where this was written


def training_flops(steps: int, batch_size: int, n_features: int, hidden_sizes: Sequence[int]) -> float:
    """Arithmetic of ``steps`` optimizer steps: forward + backward is about 3 forward passes."""
    return 3.0 * forward_flops_per_row(n_features, hidden_sizes) * steps * batch_size


def training_memory_bytes(n_features: int, hidden_sizes: Sequence[int], batch_size: int,
                          eval_batch_size: int) -> dict[str, int]:
    """Device memory of one training run in float32, part by part.

    Weights, their gradients and Adam's two moment estimates are 4 copies of the parameters. A
    training batch keeps, for the backward pass, its input and per hidden layer the linear output,
    the ReLU output and the dropout mask; an evaluation batch keeps its input and one layer's output
    at a time. The training rows stay in CPU memory: only batches are moved to the device.
    """
    parameters = mlp_parameters(n_features, hidden_sizes)
    hidden = sum(hidden_sizes)
    return {
        "weights, gradients, Adam moments": 4 * parameters * BYTES_FP32,
        "activations of a training batch": batch_size * (n_features + 3 * hidden + 2) * BYTES_FP32,
        "activations of an evaluation batch": eval_batch_size * (n_features + max(hidden_sizes, default=1) + 1) * BYTES_FP32,
    }


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_step(n_features: int, hidden_sizes: Sequence[int], dropout: float, batch_size: int,
                     device: torch.device, training_rows: int = 100_000, steps: int = 20, seed: int = 0) -> float:
    """Measured seconds of one training step as :func:`~hwutils.imbalanced.training.fit_classifier`
    takes it: draw a random batch from ``training_rows`` rows held in CPU memory, move it to
    ``device``, forward, backward, an Adam step, and read the loss (after a warm-up)."""
    generator = torch.Generator().manual_seed(seed)
    model = FraudMLP(n_features, hidden_sizes, dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    x = torch.randn(training_rows, n_features, generator=generator)
    y = (torch.rand(training_rows, generator=generator) < 0.5).float()

    def step() -> float:
        batch_x, batch_y = (part.to(device) for part in random_rows(x, y, batch_size, generator))
        loss = F.binary_cross_entropy_with_logits(model(batch_x), batch_y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()  # the loop logs every step's loss, which waits for the device

    for _ in range(3):
        step()
    _synchronise(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronise(device)
    return (time.perf_counter() - start) / steps


@torch.no_grad()
def seconds_per_scored_row(n_features: int, hidden_sizes: Sequence[int], eval_batch_size: int,
                           device: torch.device, batches: int = 3, seed: int = 0) -> float:
    """Measured seconds to score one row in batches of ``eval_batch_size`` (forward pass only)."""
    generator = torch.Generator().manual_seed(seed)
    model = FraudMLP(n_features, hidden_sizes).to(device).eval()
    x = torch.randn(eval_batch_size, n_features, generator=generator)
    torch.sigmoid(model(x.to(device)).double()).cpu()
    start = time.perf_counter()
    for _ in range(batches):
        torch.sigmoid(model(x.to(device)).double()).cpu()
    return (time.perf_counter() - start) / (batches * eval_batch_size)


def training_seconds(steps: int, step_s: float, eval_every: int, validation_rows: int, row_s: float) -> float:
    """One training run: its steps, plus scoring the validation split at step 0, every
    ``eval_every`` steps and at the end (what :func:`hwutils.core.training.train` does)."""
    evaluations = 1 + (steps // eval_every if eval_every else 0) + (1 if not eval_every or steps % eval_every else 0)
    return steps * step_s + evaluations * validation_rows * row_s
