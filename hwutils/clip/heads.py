"""What is trained on cached image features: learnable class embeddings and a linear probe.

Both keep the image encoder frozen and learn only a small matrix on top of its (cached,
normalised) features, so a training run costs seconds even for the full dataset:

* :class:`ClassEmbeddingClassifier` keeps CLIP's zero-shot form, ``scale * cos(image, class)``,
  but makes the class embeddings trainable, starting from the zero-shot text embeddings. It
  drops the text encoder after initialisation: C x D parameters.
* :class:`LinearProbe` is a plain linear layer on the features (logistic regression), starting
  from zero: C x D + C parameters, regularised by weight decay.

Few-shot subsets (:func:`shots_per_class`) and the held-out part of train
(:func:`stratified_holdout`) are seeded, so every method sees the same examples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwutils.core.training import TrainResult, train


class ClassEmbeddingClassifier(nn.Module):
    """``logit_scale * normalise(image) @ normalise(class_embeddings).T`` with trainable class embeddings."""

    def __init__(self, initial_embeddings: torch.Tensor, logit_scale: float):
        super().__init__()
        self.class_embeddings = nn.Parameter(initial_embeddings.detach().clone().float())
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))  # CLIP's, kept fixed

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * F.normalize(image_features, dim=-1) @ F.normalize(self.class_embeddings, dim=-1).T


class LinearProbe(nn.Module):
    """A linear layer on frozen image features, initialised at zero (every class equally likely)."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(dim, n_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.linear(image_features)


def fit(model: nn.Module, features: torch.Tensor, labels: torch.Tensor, *, steps: int, lr: float,
        weight_decay: float = 0.0, batch_size: int = 256, seed: int = 0, desc: str = "training") -> TrainResult:
    """Cross-entropy training of ``model`` on (features, labels) with AdamW and a cosine learning rate.

    Each step draws a random batch (with replacement, so tiny few-shot sets work too); the run is
    measured by :func:`hwutils.core.training.train` (wall time, samples, peak memory).
    """
    device = next(model.parameters()).device
    features, labels = features.to(device), labels.to(device)
    generator = torch.Generator().manual_seed(seed)
    batch = min(batch_size, len(labels))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    def next_batch():
        rows = torch.randint(len(labels), (batch,), generator=generator).to(device)
        return features[rows], labels[rows]

    return train(model, optimizer, next_batch, lambda m, b: F.cross_entropy(m(b[0]), b[1]), steps=steps,
                 scheduler=scheduler, generator=generator, desc=desc)


@torch.no_grad()
def predict_logits(model: nn.Module, features: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """The model's logits for every row of ``features`` (on the CPU)."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(features[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(features), batch_size)])


def accuracy(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predict_logits(model, features).argmax(dim=1) == labels).double().mean())


def evaluate(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on (features, labels)."""
    logits = predict_logits(model, features)
    return {"accuracy": float((logits.argmax(dim=1) == labels).double().mean()), "loss": float(F.cross_entropy(logits, labels))}


def shots_per_class(labels: torch.Tensor, shots: int, seed: int) -> torch.Tensor:
    """Indices of ``shots`` seeded examples of every class (all of a class's examples if it has fewer)."""
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    chosen = [rng.permutation(np.flatnonzero(y == c))[:shots] for c in np.unique(y)]
    return torch.as_tensor(np.sort(np.concatenate(chosen)), dtype=torch.long)


def stratified_holdout(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kept, held_out)`` indices: a seeded ``fraction`` of every class is held out (at least one example)."""
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    held = []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        held += members[: max(1, round(fraction * len(members)))].tolist()
    held_out = np.sort(np.asarray(held, dtype=np.int64))
    kept = np.setdiff1d(np.arange(len(y)), held_out)
    return torch.as_tensor(kept), torch.as_tensor(held_out)


def few_shot_curve(build: Callable[[], nn.Module], train_features: torch.Tensor, train_labels: torch.Tensor,
                   test_features: torch.Tensor, test_labels: torch.Tensor, shots: Sequence[int], *, seed: int,
                   name: str = "", **fit_kwargs: Any) -> list[dict[str, Any]]:
    """Test accuracy after training a fresh ``build()`` on k examples per class for each k in ``shots``
    (0 stands for all the training data)."""
    rows = []
    for k in shots:
        rows_k = torch.arange(len(train_labels)) if k == 0 else shots_per_class(train_labels, k, seed)
        model = build()
        run = fit(model, train_features[rows_k], train_labels[rows_k], seed=seed, desc=f"{name} {k or 'all'}-shot", **fit_kwargs)
        rows.append({"method": name, "shots": k if k else "all", "examples": len(rows_k),
                     "accuracy": accuracy(model, test_features, test_labels), "train_s": run.stats.wall_time_s})
    return rows
