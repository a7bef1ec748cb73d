"""Notebook 04 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

ViT-base (``reference_architecture``: the in21k checkpoint's shapes with a head for the dataset's
101 classes) is built on the meta device, wrapped with the same LoRA configuration as the notebook
(:func:`hwutils.vision.models.add_lora`); one per-device batch of ``batch_size`` images. The weights
are stored in float32 (the Trainer's fp16/bf16 flags autocast the computation, not the weights).
"""

from __future__ import annotations

from typing import Any

import torch

from hwutils.core.models import freeze
from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings
from hwutils.vision.models import add_lora, reference_classifier

FOOD101_TRAIN, FOOD101_VALIDATION = 75_750, 25_250  # images in Food101's official splits


def _images(settings: Settings, batch_size: int, labels: bool = True) -> dict[str, torch.Tensor]:
    size = settings.reference_architecture["image_size"]
    with torch.device("meta"):
        batch = {"pixel_values": torch.zeros(batch_size, 3, size, size)}
        if labels:
            batch["labels"] = torch.zeros(batch_size, dtype=torch.long)
    return batch


def _probe(settings: Settings) -> Any:
    model = freeze(reference_classifier(settings.reference_architecture))
    model.classifier.requires_grad_(True)
    return model


def workloads(settings: Settings) -> list[Workload]:
    """LoRA and the linear probe (same budget: ``epochs`` over the train subset), and scoring the test split."""
    train_images = settings.train_examples or FOOD101_TRAIN
    fitted = round(train_images * (1 - settings.validation_fraction))
    micro_batches = settings.epochs * -(-fitted // settings.batch_size)  # forward + backward passes (accumulation included)
    evaluations = settings.epochs * -(-(train_images - fitted) // settings.eval_batch_size)
    test_batches = -(-(settings.test_examples or FOOD101_VALIDATION) // settings.eval_batch_size)
    common = dict(batch=lambda: _images(settings, settings.batch_size), steps=micro_batches, forward_passes=evaluations + test_batches,
                  remedy="batch_size=16 gradient_accumulation_steps=8")
    lora = Workload("lora", lambda: add_lora(reference_classifier(settings.reference_architecture), settings), **common)
    probe = Workload("linear_probe", lambda: _probe(settings), **common)
    scoring = Workload("test_scoring", lambda: reference_classifier(settings.reference_architecture),
                       lambda: _images(settings, settings.eval_batch_size, labels=False),
                       loss=lambda model, batch: model(**batch).logits.float().mean(), training=False,
                       forward_passes=3 * test_batches, remedy="eval_batch_size=32")
    return [lora, probe, scoring]


def disk(settings: Settings) -> dict[str, float]:
    """The checkpoint (float32 on the Hub), Food101 (about 5 GB of JPEGs), and the Trainer's checkpoints
    (two kept per method: the LoRA matrices, the head and AdamW's state) plus the adapter."""
    lora = add_lora(reference_classifier(settings.reference_architecture), settings)
    parameters = sum(p.numel() for p in lora.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    return {"model download": parameters * 4, "dataset download": 5.0e9, "outputs": 2 * 2 * trainable * 4 * 4}
