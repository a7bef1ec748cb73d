"""How good a representation is, and how consistent MoCo's queue is.

* :func:`extract_features`: the frozen backbone's features of un-augmented images, L2-normalised.
* :func:`knn_predict`: the weighted kNN classifier of the official CIFAR-10 demo (and of InstDisc):
  the ``k`` most similar training images vote for their class with weight ``exp(similarity / t)``.
* :func:`linear_probe`: a logistic-regression layer trained on the frozen features.
* :func:`heldout_infonce`: MoCo's loss on held-out image pairs (the other pairs' keys as negatives),
  comparable before and after training, unlike the training loss, whose negatives change.
* :class:`QueueConsistency`: how much a key changes while it waits in the queue.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hwutils.core.precision import Precision
from hwutils.moco.augment import normalise
from hwutils.moco.model import MoCo


@torch.no_grad()
def extract_features(backbone: nn.Module, images: torch.Tensor, mean: Sequence[float], std: Sequence[float], *,
                     batch_size: int, device: torch.device, precision: Precision) -> torch.Tensor:
    """L2-normalised features (N x D, float32, on the CPU) of ``uint8`` images, in evaluation mode."""
    was_training = backbone.training
    backbone.eval()
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = normalise(images[start:start + batch_size].to(device), mean, std)
        with precision.autocast():
            chunks.append(F.normalize(backbone(batch).float(), dim=1).cpu())
    backbone.train(was_training)
    return torch.cat(chunks)


@torch.no_grad()
def knn_predict(features: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, n_classes: int, *,
                k: int, temperature: float, chunk: int = 1024) -> torch.Tensor:
    """The class each row of ``features`` gets from its ``k`` most similar rows of ``bank``, each
    voting for its label with weight ``exp(cosine similarity / temperature)``."""
    k = min(k, len(bank))
    predictions = []
    for start in range(0, len(features), chunk):
        similarity = features[start:start + chunk] @ bank.T  # rows are normalised: cosine similarities
        weights, neighbours = similarity.topk(k, dim=1)
        votes = weights.new_zeros(len(weights), n_classes).scatter_add_(1, bank_labels[neighbours], (weights / temperature).exp())
        predictions.append(votes.argmax(dim=1).cpu())
    return torch.cat(predictions)


def knn_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 test_labels: torch.Tensor, n_classes: int, *, k: int, temperature: float) -> float:
    predicted = knn_predict(test_features, train_features, train_labels, n_classes, k=k, temperature=temperature)
    return float((predicted == test_labels).double().mean())


def linear_probe(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 test_labels: torch.Tensor, n_classes: int, *, steps: int, lr: float, weight_decay: float,
                 device: torch.device) -> float:
    """Test accuracy of a linear classifier trained on frozen features (full-batch AdamW, cosine
    learning rate). Features are standardised with the training set's mean and deviation first."""
    mean, std = train_features.mean(dim=0), train_features.std(dim=0) + 1e-6
    x_train, x_test = ((train_features - mean) / std).to(device), ((test_features - mean) / std).to(device)
    y_train = train_labels.to(device)
    layer = nn.Linear(x_train.shape[1], n_classes).to(device)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)  # starts at "every class equally likely": deterministic
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    for _ in range(steps):
        loss = F.cross_entropy(layer(x_train), y_train)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    with torch.no_grad():
        predicted = layer(x_test).argmax(dim=1).cpu()
    return float((predicted == test_labels).double().mean())


@torch.no_grad()
def heldout_infonce(moco: MoCo, view_q: torch.Tensor, view_k: torch.Tensor, precision: Precision) -> float:
    """InfoNCE of held-out pairs: query i (query encoder) must pick key i (key encoder) among the keys
    of all pairs, in evaluation mode. About ``ln(pairs)`` for an encoder that tells nothing apart."""
    was_training = moco.training
    moco.eval()
    with precision.autocast():
        q = F.normalize(moco.encoder_q(view_q).float(), dim=1)
        k = F.normalize(moco.encoder_k(view_k).float(), dim=1)
    moco.train(was_training)
    logits = q @ k.T / moco.config.temperature
    return float(F.cross_entropy(logits, torch.arange(len(q), device=q.device)))


@torch.no_grad()
def keys_as_in_training(encoder: nn.Module, views: torch.Tensor, precision: Precision) -> torch.Tensor:
    """``encoder``'s normalised outputs for ``views`` computed as during training (batch statistics
    in batch norm), leaving its running statistics as they were."""
    saved = {name: buffer.clone() for name, buffer in encoder.named_buffers()}
    was_training = encoder.training
    encoder.train()
    with precision.autocast():
        keys = F.normalize(encoder(views).float(), dim=1)
    encoder.train(was_training)
    for name, buffer in encoder.named_buffers():
        buffer.copy_(saved[name])
    return keys


class QueueConsistency:
    """How much a key changes while it waits in the queue.

    A key stays in the queue for ``queue_size / batch_size`` steps (its *lifetime*). Called every
    lifetime steps, this encodes one fixed batch of views with the key encoder and compares the keys
    with those of the previous call: the cosine similarity between a key as it was stored and the
    same view's key encoded now, i.e. between the oldest key in the queue and a fresh one. It also
    measures how far the key encoder lags behind the query encoder (cosine of their outputs).
    """

    def __init__(self, views: torch.Tensor, precision: Precision):
        self.views = views
        self.precision = precision
        self.previous: torch.Tensor | None = None  # keys of the last call (lost on a resume: one value skipped)

    def __call__(self, moco: MoCo) -> dict[str, float]:
        keys = keys_as_in_training(moco.encoder_k, self.views, self.precision)
        queries = keys_as_in_training(moco.encoder_q, self.views, self.precision)
        measured = {"key_query_agreement": float((keys * queries).sum(dim=1).mean())}
        if self.previous is not None:
            measured["queue_consistency"] = float((keys * self.previous).sum(dim=1).mean())
        self.previous = keys
        return measured
