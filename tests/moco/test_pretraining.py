"""A MoCo run: float16 loss scaling inside the core loop, resuming from a checkpoint, evaluation."""

from __future__ import annotations

import pytest
import torch

from hwutils.core.precision import Precision, choose_precision
from hwutils.moco import augment
from hwutils.moco.data import ImageSet
from hwutils.moco.model import MoCoConfig
from hwutils.moco.pretraining import Bench, pretrain, pretrain_and_evaluate

CONFIG = MoCoConfig(widths=(4, 8), depths=(1, 1), feature_dim=8, queue_size=8, momentum=0.9, temperature=0.2, bn_splits=2)
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def tiny_bench(tmp_path, precision: Precision) -> tuple[Bench, augment.TwoViews]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=generator)
    labels = torch.arange(16) % 2
    augmentation = augment.moco_augmentation(8, 0.5, MEAN, STD)
    data = ImageSet(images, labels, ["a", "b"])
    views = augment.fixed_views(images[:8], augmentation, seed=1)
    bench = Bench(device=torch.device("cpu"), precision=precision, seed=0, checkpoints=tmp_path, augmentation=augmentation,
                  mean=MEAN, std=STD, labelled=data, test=data, heldout_views=(views, views), batch_size=4, lr=0.05,
                  weight_decay=5e-4, sgd_momentum=0.9, checkpoint_every=3, workers=0, eval_batch_size=8, knn_k=3,
                  knn_temperature=0.1, probe_steps=5, probe_lr=0.01)
    return bench, augment.TwoViews.one_image_per_item(images, torch.arange(16), augmentation)


@pytest.mark.slow
def test_a_rerun_resumes_from_the_checkpoint_and_gives_the_same_results(tmp_path):
    bench, items = tiny_bench(tmp_path, choose_precision("cpu", "float32"))
    first = pretrain_and_evaluate(bench, "run", CONFIG, items, steps=6)
    assert (tmp_path / "run.pt").exists() and first.training.resumed_from_step == 0
    again = pretrain_and_evaluate(bench, "run", CONFIG, items, steps=6)
    assert again.training.resumed_from_step == 6
    assert again.metrics == first.metrics
    assert torch.equal(again.moco.queue, first.moco.queue)  # the queue is part of the saved state
    assert set(first.metrics) >= {"knn_accuracy", "linear_probe_accuracy", "heldout_infonce", "false_negative_share"}


def test_other_settings_do_not_reuse_a_checkpoint(tmp_path):
    bench, items = tiny_bench(tmp_path, choose_precision("cpu", "float32"))
    pretrain(bench, "run", CONFIG, items, steps=3)
    _, training = pretrain(bench, "run", CONFIG.replace(momentum=0.5), items, steps=3)
    assert training.resumed_from_step == 0


@pytest.mark.slow
def test_the_half_precision_path_trains_with_autocast_and_loss_scaling(tmp_path):
    """The T4's branch (float16 autocast + GradScaler), run on the CPU."""
    bench, items = tiny_bench(tmp_path / "half", Precision("float16", "cpu", "test"))
    moco, training = pretrain(bench, "half", CONFIG, items, steps=4)
    losses = [row["loss"] for row in training.losses]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert moco.queue.dtype == torch.float32 and int(moco.queries_seen) == 16
    bench32, items32 = tiny_bench(tmp_path / "full", choose_precision("cpu", "float32"))
    _, reference = pretrain(bench32, "full", CONFIG, items32, steps=4)
    assert losses != [row["loss"] for row in reference.losses]  # computed in float16, not float32
