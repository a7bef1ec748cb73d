"""The classifier: a small multilayer perceptron that outputs one fraud logit per transaction."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class FraudMLP(nn.Module):
    """``Linear -> ReLU -> Dropout`` for each hidden width, then ``Linear(width, 1)``: a fraud logit.

    The sigmoid is left to the loss (``BCEWithLogitsLoss``), which computes it stably.
    """

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1)


def mlp_parameters(n_features: int, hidden_sizes: Sequence[int]) -> int:
    """Analytic parameter count: a ``Linear(a, b)`` has ``a*b`` weights and ``b`` biases."""
    widths = [n_features, *hidden_sizes, 1]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def forward_flops_per_row(n_features: int, hidden_sizes: Sequence[int]) -> int:
    """Multiply-adds of one forward pass, counted as 2 FLOPs each (training costs about 3 times this)."""
    widths = [n_features, *hidden_sizes, 1]
    return sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))
