"""hwutils.vision.preflight: notebook 04's methods at full-profile size (ViT-base, 101 classes) on the meta device."""

from __future__ import annotations

import pytest

from hwutils.core import preflight as core_preflight
from hwutils.core.models import count_parameters
from hwutils.vision import preflight

NAME = "04_vit_food101"


def test_lora_and_the_probe_train_what_the_notebook_trains_on_vit_base(workloads):
    lora, probe = (count_parameters(workloads[name].build()) for name in ("lora", "linear_probe"))
    assert lora.trainable == 667_493  # the notebook's analytic count for r=16 on query and value + the 101-way head
    assert probe.trainable == 768 * 101 + 101
    assert workloads["lora"].build().base_model.model.vit.encoder.layer[0].attention.attention.query.lora_A["default"].weight.device.type == "meta"


def test_one_per_device_batch_of_full_size_images_and_micro_batch_steps(full, workloads):
    batch = workloads["lora"].batch()
    assert tuple(batch["pixel_values"].shape) == (full.batch_size, 3, 224, 224) and batch["pixel_values"].device.type == "meta"
    fitted = round(full.train_examples * (1 - full.validation_fraction))
    assert workloads["lora"].steps == full.epochs * -(-fitted // full.batch_size)  # accumulation counts every batch
    assert not workloads["test_scoring"].training


@pytest.mark.slow
def test_every_method_fits_a_t4_in_float16(workloads):
    t4 = core_preflight.GPUS["t4"]
    estimates = {name: core_preflight.estimate(workload, t4) for name, workload in workloads.items()}
    assert all(e.fits and e.precision == "float16" for e in estimates.values()), estimates
    assert estimates["lora"].activations > estimates["linear_probe"].activations  # LoRA's backward goes through every block


def test_disk_counts_the_checkpoint_in_float32(full):
    disk = preflight.disk(full)
    assert disk["model download"] == pytest.approx(85_800_000 * 4, rel=0.01)
    assert disk["dataset download"] > 1e9 and disk["outputs"] > 0
