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
    assert stale.exists()  # checkpoints are kept: train_or_resume decides whether they are reused


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


def tiny_vit(seed: int = 0):
    torch.manual_seed(seed)
    return ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                               num_attention_heads=2, intermediate_size=64, num_labels=3))


class StopAfterEpoch:
    """A TrainerCallback that ends training after epoch ``epoch``, once its checkpoint is saved (a disconnect)."""

    def __new__(cls, epoch: int):
        from transformers import TrainerCallback

        class Stop(TrainerCallback):
            def on_save(self, args, state, control, **kwargs):
                if round(state.epoch) >= epoch:
                    control.should_training_stop = True

        return Stop()


def step_counter():
    """A TrainerCallback counting the optimizer steps actually run in this process (``.steps``)."""
    from transformers import TrainerCallback

    class Count(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            self.steps += 1

    return Count()


def train_tiny(run, data, callbacks=()):
    trainer = training.make_trainer(tiny_vit(), data, run, "tiny", lr=1e-3, top_k=2)
    counter = step_counter()
    for callback in [counter, *callbacks]:
        trainer.add_callback(callback)
    trained = training.train_or_resume(trainer, training.checkpoint_recipe(run, "tiny", 1e-3))
    assert trained.stats.steps == counter.steps  # the cost counts the steps that ran, not the ones reloaded
    return trainer, trained


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_result_and_a_finished_one_is_reloaded(tmp_path):
    settings = dict(epochs=3, batch_size=6, eval_batch_size=6, logging_steps=1, gradient_accumulation_steps=1)
    data = tiny_image_data()
    straight, straight_run = train_tiny(smoke_run(tmp_path / "straight", **settings), data)
    assert straight_run.resumed_from_step == 0 and straight_run.stats.steps == 9

    interrupted_dir = tmp_path / "interrupted"
    first, first_run = train_tiny(smoke_run(interrupted_dir, **settings), data, [StopAfterEpoch(1)])
    assert first.state.global_step == 3  # stopped after one epoch of three
    resumed, resumed_run = train_tiny(smoke_run(interrupted_dir, **settings), data)
    assert resumed_run.resumed_from_step == 3 and resumed_run.stats.steps == 6 and "checkpoint-3" in resumed_run.note
    assert training.trainer_curves(resumed)[1] == training.trainer_curves(straight)[1]  # the same evaluations, epoch by epoch
    scores = [training.score_split(t, data.test, data.num_labels, top_k=2).logits for t in (straight, resumed)]
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-5)

    again, again_run = train_tiny(smoke_run(interrupted_dir, **settings), data)  # finished: reloaded, nothing trained
    assert again_run.resumed_from_step == 9 and again_run.stats.steps == 0 and "finished run reloaded" in again_run.note
    assert again.state.best_metric == straight.state.best_metric


@pytest.mark.slow
def test_checkpoints_of_another_recipe_are_not_resumed(tmp_path):
    settings = dict(epochs=1, batch_size=6, eval_batch_size=6, logging_steps=1, gradient_accumulation_steps=1)
    data = tiny_image_data()
    train_tiny(smoke_run(tmp_path, **settings), data)
    _, changed = train_tiny(smoke_run(tmp_path, **{**settings, "weight_decay": 0.5}), data)
    assert changed.resumed_from_step == 0 and changed.stats.steps == 3
    assert "settings.weight_decay" in changed.note and "started over" in changed.note
