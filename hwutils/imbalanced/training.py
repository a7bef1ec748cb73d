"""Training the MLP with the project's loop: Adam, binary cross-entropy on logits, checkpoints.

:func:`fit_classifier` builds the model from a seed (every method starts from the same weights),
draws random batches of training rows, and hands everything to :func:`hwutils.core.training.train`,
which evaluates on the validation split every ``eval_every`` steps, saves a checkpoint every
``checkpoint_every`` steps and resumes from it when the notebook is run again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from hwutils.core.models import ParameterCount, count_parameters
from hwutils.core.precision import Precision
from hwutils.core.training import Checkpointer, TrainResult, train
from hwutils.imbalanced.model import FraudMLP
from hwutils.imbalanced.resampling import Rebalanced


@dataclass(frozen=True)
class MLPRecipe:
    """How every method's MLP is built and trained (only the training rows and the loss weight differ)."""

    hidden_sizes: tuple[int, ...]
    dropout: float
    lr: float
    steps: int
    batch_size: int
    eval_every: int
    eval_batch_size: int
    checkpoint_every: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden_sizes": list(self.hidden_sizes)}


@dataclass
class Fitted:
    """A trained classifier, its training log (losses, validation curve, cost) and its size."""

    model: FraudMLP
    result: TrainResult
    parameters: ParameterCount


def random_rows(x: torch.Tensor, y: torch.Tensor, batch_size: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` rows drawn at random (with replacement) with ``generator``: on resume, the
    restored generator state continues the very same sequence of batches."""
    rows = torch.randint(len(y), (batch_size,), generator=generator)
    return x[rows], y[rows]


def weighted_bce(pos_weight: float):
    """``loss(model, (x, y))``: binary cross-entropy on the logits, each fraud's term times ``pos_weight``.

    The core loop runs it under the run's precision (autocast, and loss scaling for float16); the
    loss itself is computed in float32.
    """
    weight = torch.tensor(float(pos_weight))

    def loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.binary_cross_entropy_with_logits(model(x).float(), y, pos_weight=weight.to(y.device))

    return loss


@torch.no_grad()
def predict_scores(model: torch.nn.Module, x: np.ndarray, batch_size: int, precision: Precision) -> np.ndarray:
    """The fraud probability of every row of ``x`` (the sigmoid taken in float64, so that very
    confident scores stay distinct instead of all rounding to 1.0)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = []
    for start in range(0, len(x), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(device)
        with precision.autocast():
            logits = model(chunk)
        scores.append(torch.sigmoid(logits.double()).cpu())
    model.train(was_training)
    return torch.cat(scores).numpy()


def fit_classifier(name: str, data: Rebalanced, x_val: np.ndarray, y_val: np.ndarray, recipe: MLPRecipe, *,
                   checkpoint_dir: str | Path, seed: int, device: torch.device, precision: Precision,
                   fingerprint: dict[str, Any] | None = None) -> Fitted:
    """Train a fresh :class:`FraudMLP` on ``data`` with Adam and the weighted BCE, through the core
    loop, in the run's ``precision``.

    The validation split is scored every ``recipe.eval_every`` steps (mean unweighted BCE and
    average precision). The checkpoint ``checkpoint_dir/<name>.pt`` holds the whole training state;
    its fingerprint (the recipe, the training rows, the seed, plus ``fingerprint``) keeps a
    checkpoint of other settings from being resumed.
    """
    torch.manual_seed(seed)  # the same initial weights for every method
    model = FraudMLP(data.x.shape[1], recipe.hidden_sizes, recipe.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    x_train, y_train = torch.from_numpy(data.x), torch.from_numpy(data.y.astype(np.float32))
    sampler = torch.Generator().manual_seed(seed)
    y_val_tensor = torch.from_numpy(y_val.astype(np.float64))

    def evaluate() -> dict[str, float]:
        scores = torch.from_numpy(predict_scores(model, x_val, recipe.eval_batch_size, precision))
        val_loss = F.binary_cross_entropy(scores.clamp(1e-12, 1 - 1e-12), y_val_tensor).item()
        return {"val_loss": val_loss, "val_average_precision": float(average_precision_score(y_val, scores.numpy()))}

    checkpoint = Checkpointer(Path(checkpoint_dir) / f"{name}.pt", every=recipe.checkpoint_every,
                              fingerprint={**recipe.as_dict(), "method": name, "seed": seed, "rows": len(data.y),
                                           "frauds": int(data.y.sum()), "pos_weight": data.pos_weight,
                                           **(fingerprint or {})})
    result = train(model, optimizer, lambda: random_rows(x_train, y_train, recipe.batch_size, sampler),
                   weighted_bce(data.pos_weight), steps=recipe.steps, evaluate=evaluate, eval_every=recipe.eval_every,
                   checkpoint=checkpoint, generator=sampler, desc=name, precision=precision)
    model.eval()
    return Fitted(model, result, count_parameters(model))
