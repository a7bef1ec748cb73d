"""The optimiser of notebook 06, explained: AdamW's decoupled weight decay and the cosine schedule.

**Adam with L2** adds ``wd * w`` to the gradient; Adam then divides every gradient by the square
root of its running second moment, so a weight whose gradients are large is barely decayed and a
weight whose gradients are small is decayed a lot. **AdamW** (Loshchilov & Hutter, 2019) decouples
the two: after Adam's update it shrinks every weight by ``lr * wd * w``, the same relative amount
whatever its gradients. :func:`decay_comparison` measures the difference on two weights.

**Cosine annealing** (``CosineAnnealingLR``) lowers the rate from its peak to ``floor`` along half a
cosine over ``t_max`` steps: :func:`cosine_learning_rate`.
"""

from __future__ import annotations

import math

import torch


def cosine_learning_rate(step: int, peak: float, t_max: int, floor: float = 0.0) -> float:
    """``floor + (peak - floor) (1 + cos(pi step / t_max)) / 2``: the rate after ``step`` steps."""
    return floor + (peak - floor) * (1 + math.cos(math.pi * step / t_max)) / 2


def decay_comparison(steps: int = 200, lr: float = 1e-2, weight_decay: float = 0.1,
                     gradient_scales: tuple[float, ...] = (0.01, 10.0), seed: int = 0) -> list[dict[str, float]]:
    """What weight decay alone does under Adam with L2 and under AdamW: two weights start at 1.0 and
    get pure-noise gradients of a small and a large scale; each optimiser runs once with the decay
    and once without, on the same noise, and the difference is the decay's own effect."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps, len(gradient_scales), generator=generator) * torch.tensor(gradient_scales)

    def final_weights(optimizer_class, decay: float) -> torch.Tensor:
        weights = torch.nn.Parameter(torch.ones(len(gradient_scales)))
        optimizer = optimizer_class([weights], lr=lr, weight_decay=decay)
        for step in range(steps):
            weights.grad = noise[step].clone()
            optimizer.step()
        return weights.detach()

    rows = []
    for name, optimizer_class in (("Adam + L2 (weight_decay in Adam)", torch.optim.Adam),
                                  ("AdamW (decoupled)", torch.optim.AdamW)):
        effect = final_weights(optimizer_class, weight_decay) - final_weights(optimizer_class, 0.0)
        rows.append({"optimizer": name, **{f"decay's effect, gradients ~{scale:g}": float(e)
                                          for scale, e in zip(gradient_scales, effect)}})
    return rows
