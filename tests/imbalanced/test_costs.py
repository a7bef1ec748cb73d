"""Cost estimates computed from the architecture (no wall-clock limits: only their arithmetic)."""

from __future__ import annotations

import torch

from hwutils.imbalanced import costs
from hwutils.imbalanced.model import mlp_parameters


def test_memory_counts_four_copies_of_the_parameters_and_the_batch_activations():
    memory = costs.training_memory_bytes(30, [64, 32], batch_size=256, eval_batch_size=1000)
    assert memory["weights, gradients, Adam moments"] == 16 * mlp_parameters(30, [64, 32])
    assert memory["activations of a training batch"] == 256 * (30 + 3 * 96 + 2) * 4
    assert memory["activations of an evaluation batch"] == 1000 * (30 + 64 + 1) * 4


def test_training_seconds_counts_every_evaluation_the_loop_makes():
    # steps 100, every 10: evaluations at 0, 10, ..., 100 (11); steps 105: also at 105 (12)
    assert costs.training_seconds(100, 0.01, 10, 1000, 1e-6) == 100 * 0.01 + 11 * 1000 * 1e-6
    assert costs.training_seconds(105, 0.01, 10, 1000, 1e-6) == 105 * 0.01 + 12 * 1000 * 1e-6


def test_training_flops_are_three_forward_passes_per_row():
    assert costs.training_flops(10, 4, 30, [8]) == 3 * 2 * (30 * 8 + 8) * 10 * 4


def test_the_timers_measure_the_full_architecture_on_this_device():
    step_s = costs.seconds_per_step(30, [16], 0.1, batch_size=32, device=torch.device("cpu"), steps=2)
    row_s = costs.seconds_per_scored_row(30, [16], eval_batch_size=64, device=torch.device("cpu"), batches=1)
    assert step_s > 0 and row_s > 0
