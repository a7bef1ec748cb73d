"""Notebook 10 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

Every method trains the same MLP for the same number of steps (only its training rows and its loss
weight differ) and the leakage experiment trains one more, so there is one workload per training.
The dataset is not downloaded here: its size is taken from the Kaggle file (the course report's
count), and the training rows stay in CPU memory, so only batches reach the GPU.
"""

from __future__ import annotations

import math

import torch

from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings
from hwutils.imbalanced.data import FEATURES, REPORT_CLASS_COUNTS
from hwutils.imbalanced.model import FraudMLP, mlp_parameters
from hwutils.imbalanced.resampling import METHODS
from hwutils.imbalanced.training import weighted_bce

KAGGLE_FILE_BYTES = 151_000_000  # creditcard.csv, "151 MB" on its Hub page, downloaded once


def scored_rows(settings: Settings, rows: int = sum(REPORT_CLASS_COUNTS.values())) -> int:
    """Rows one training scores: the validation split at every evaluation, then validation and test once more."""
    test = round(rows * settings.test_fraction)
    validation = round((rows - test) * settings.validation_fraction)
    evaluations = settings.mlp_steps // settings.eval_every + 1 + (1 if settings.mlp_steps % settings.eval_every else 0)
    return evaluations * validation + validation + test


def workloads(settings: Settings) -> list[Workload]:
    """One training of the MLP per method, and the leaky model's (float32 unless ``precision`` says otherwise)."""

    def build() -> FraudMLP:
        with torch.device("meta"):
            return FraudMLP(len(FEATURES), settings.hidden_sizes, settings.mlp_dropout)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.zeros(settings.batch_size, len(FEATURES), device="meta"),
                torch.zeros(settings.batch_size, device="meta"))

    # scoring, counted in forward passes of a training batch's size
    forward_passes = math.ceil(scored_rows(settings) / settings.batch_size)
    return [Workload(name, build, batch, loss=weighted_bce(1.0), autocast=settings.precision != "float32",
                     optimizer="adam", steps=settings.mlp_steps, forward_passes=forward_passes,
                     remedy="batch_size=256") for name in [*METHODS, "leaky_oversampling"]]


def disk(settings: Settings) -> dict[str, float]:
    """Bytes on disk: the Kaggle file, and one checkpoint (weights and Adam's moments) per training."""
    parameters = mlp_parameters(len(FEATURES), settings.hidden_sizes)
    return {"download": KAGGLE_FILE_BYTES, "outputs": (len(METHODS) + 1) * parameters * 4 * 3}
