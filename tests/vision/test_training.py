"""hwutils.vision.training: the Trainer every method of notebook 04 shares, its curves and its scores."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

from hwutils.core.run import start_run
from hwutils.vision import training
from hwutils.vision.data import ImageClassificationData
from hwutils.vision.images import BatchTransform, image_transforms

NOTEBOOK = "04_vit_food101"


def smoke_run(tmp_path, **overrides):
    return start_run(NOTEBOOK, "smoke", 0, tmp_path, overrides)


def test_metrics_for_the_trainer_are_accuracy_and_top_k():
    logits = np.array([[3.0, 2.0, 1.0], [0.0, 1.0, 2.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
    labels = np.array([0, 0, 2, 0])  # argmax right once; top-2 right for rows 0 and 2
    scores = training.ClassificationMetrics(top_k=2)(SimpleNamespace(predictions=logits, label_ids=labels))
    assert scores == {"accuracy": 0.25, "top2_accuracy": 0.5}


@pytest.mark.parametrize("precision, flags", [("float32", {"bf16": False, "fp16": False}),
                                              ("bfloat16", {"bf16": True, "fp16": False})])
def test_training_arguments_take_precision_and_sizes_from_the_run(tmp_path, precision, flags):
    run = smoke_run(tmp_path, precision=precision, lora_lr=0.02, batch_size=7)
    stale = run.output_dir / "checkpoints" / "lora" / "checkpoint-1"
    stale.mkdir(parents=True)
    arguments = training.training_arguments(run, "lora", run.settings.lora_lr)
    assert {"bf16": arguments.bf16, "fp16": arguments.fp16} == flags
    assert arguments.learning_rate == 0.02 and arguments.per_device_train_batch_size == 7
    assert arguments.num_train_epochs == run.settings.epochs and arguments.seed == 0 and arguments.use_cpu
    assert arguments.load_best_model_at_end and arguments.metric_for_best_model == "accuracy"
    assert not arguments.remove_unused_columns  # the on-the-fly transform needs the image column
    assert not stale.exists()  # a rerun starts from an empty checkpoint folder


def tiny_image_data(n_per_class: int = 6, n_classes: int = 3):
    import datasets

    from hwutils.core.fixtures.synthetic_images import draw_example

    rng = np.random.default_rng(0)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"][:n_classes])})

    def split(n):
        labels = [c for c in range(n_classes) for _ in range(n)]
        return datasets.Dataset.from_dict({"image": [draw_example(c, n_classes, 32, rng) for c in labels], "label": labels},
                                          features=features)

    data = ImageClassificationData(split(n_per_class), split(2), split(2), ["a", "b", "c"][:n_classes])
    transform = image_transforms(ViTImageProcessor(size={"height": 32, "width": 32})).eval
    for part in (data.train, data.validation, data.test):
        part.set_transform(BatchTransform(transform))
    return data


def test_trainer_evaluates_every_epoch_keeps_the_best_and_scores_a_split(tmp_path):
    run = smoke_run(tmp_path, epochs=3, batch_size=6, eval_batch_size=6, logging_steps=1, gradient_accumulation_steps=1)
    data = tiny_image_data()
    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                                num_attention_heads=2, intermediate_size=64, num_labels=3))
    trainer = training.make_trainer(model, data, run, "tiny", lr=1e-3, top_k=2)
    trainer.train()
    losses, evals = training.trainer_curves(trainer)
    assert [round(r["epoch"]) for r in evals] == [1, 2, 3]
    assert len(losses) == 3 * 3 and all(r["loss"] > 0 for r in losses)  # 18 images in batches of 6, logged every step
    assert trainer.state.best_metric == max(r["eval_accuracy"] for r in evals)
    scores = training.score_split(trainer, data.test, data.num_labels, top_k=2)
    assert set(scores.metrics) == {"accuracy", "top2_accuracy", "macro_f1"}
    assert scores.logits.shape == (6, 3) and scores.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert scores.metrics["accuracy"] == pytest.approx(float((scores.predictions == scores.labels).mean()))
    assert scores.metrics["top2_accuracy"] >= scores.metrics["accuracy"]
