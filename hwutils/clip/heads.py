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

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwutils.core.training import TrainResult, train


class ClassEmbeddingClassifier(nn.Module):
    """``logit_scale * normalise(image) @ normalise(class_embeddings).T`` with trainable class embeddings."""

    def __init__(self, initial_embeddings: torch.Tensor, logit_scale: float, device: torch.device | str = "cpu"):
        super().__init__()
        self.class_embeddings = nn.Parameter(initial_embeddings.detach().clone().float().to(device))
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale), device=device))  # CLIP's, kept fixed

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * F.normalize(image_features, dim=-1) @ F.normalize(self.class_embeddings, dim=-1).T


class LinearProbe(nn.Module):
    """A linear layer on frozen image features, initialised at zero (every class equally likely)."""

    def __init__(self, dim: int, n_classes: int, device: torch.device | str = "cpu"):
        super().__init__()
        self.linear = nn.Linear(dim, n_classes, device=device)
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


def choose_weight_decay(build: Callable[[], nn.Module], fit_data: tuple[torch.Tensor, torch.Tensor],
                        validation_data: tuple[torch.Tensor, torch.Tensor], decays: Sequence[float], *, seed: int,
                        **fit_kwargs: Any) -> tuple[list[dict[str, float]], float]:
    """Train a fresh ``build()`` on ``fit_data`` for each weight decay and score it on ``validation_data``.

    Returns the rows (weight decay, validation accuracy and loss) and the chosen decay: the best
    accuracy, ties broken by the lower cross-entropy (then by the earlier decay).
    """
    rows = []
    for decay in decays:
        torch.manual_seed(seed)
        model = build()
        fit(model, *fit_data, weight_decay=decay, seed=seed, desc=f"probe wd={decay:g}", **fit_kwargs)
        scores = evaluate(model, *validation_data)
        rows.append({"weight decay": decay, "validation accuracy": scores["accuracy"], "validation loss": scores["loss"]})
    best = max(rows, key=lambda row: (row["validation accuracy"], -row["validation loss"], -rows.index(row)))
    return rows, best["weight decay"]


def few_shot_curves(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[Any, float]]:
    """``{method: {shots: accuracy}}`` from the rows of :func:`few_shot_curve` (shots in their order)."""
    curves: dict[str, dict[Any, float]] = {}
    for row in rows:
        curves.setdefault(row["method"], {})[row["shots"]] = row["accuracy"]
    return curves


def plot_few_shot(rows: Sequence[Mapping[str, Any]], references: Mapping[str, float], title: str) -> None:
    """Test accuracy against training images per class for each method, with ``references`` (label: accuracy)
    as horizontal lines (e.g. zero-shot and chance)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    curves = few_shot_curves(rows)
    positions = {shots: i for i, shots in enumerate(next(iter(curves.values())))}  # "all" last, evenly spaced
    for (method, curve), marker in zip(curves.items(), "osd^"):
        ax.plot([positions[k] for k in curve], list(curve.values()), marker=marker, label=method)
    for (label, value), style in zip(references.items(), ("--", ":", "-.")):
        ax.axhline(value, color="grey", linestyle=style, label=label)
    ax.set_xticks(list(positions.values()), [str(k) for k in positions])
    ax.set(xlabel="training images per class", ylabel="test accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()


def shots_phrase(shots: Any, unit: str = "breed") -> str:
    """How a few-shot size reads in a sentence: ``"at 1 image per breed"``, ``"with all the training data"``."""
    return "with all the training data" if shots == "all" else f"at {shots} {'image' if shots == 1 else 'images'} per {unit}"
