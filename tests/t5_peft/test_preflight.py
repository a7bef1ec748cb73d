"""hwutils.t5_peft.preflight: notebook 01's set-ups at full-profile size on the meta device."""

from __future__ import annotations

import pytest
import torch

from hwutils.core import preflight as core_preflight
from hwutils.core.models import count_parameters
from hwutils.t5_peft import counting, methods, preflight

NAME = "01_t5_imdb"


def test_one_workload_per_set_up_of_the_notebook(full, workloads):
    table = methods.method_table(full, None, hyper=methods.HyperParameters.for_shapes(full))
    assert list(workloads) == list(table)
    assert all(w.steps == full.max_steps and not w.autocast for w in workloads.values()), "float32, max_steps each"


@pytest.mark.slow
def test_each_workload_trains_what_its_method_trains_on_t5_small(full, workloads):
    config = preflight.reference_config(full)
    hyper = methods.HyperParameters.for_shapes(full)
    analytic = counting.analytic_parameters(config, hyper)
    table = methods.method_table(full, None, hyper=hyper)
    for name, workload in workloads.items():
        model = workload.build()
        assert all(p.device.type == "meta" for p in model.parameters()), name
        assert count_parameters(model).trainable == analytic[table[name].family][0], name
    assert analytic["full_ft"][0] == 60_506_624


def test_the_training_batch_is_the_full_profiles(full, workloads):
    batch = workloads["lora_peft"].batch()
    assert batch["input_ids"].shape == (full.batch_size, full.max_length) and batch["labels"].shape[1] == 2
    assert batch["input_ids"].device.type == "meta"


@pytest.mark.slow
def test_full_finetuning_and_lora_fit_a_t4_in_float32(workloads):
    t4 = core_preflight.GPUS["t4"]
    full_ft, lora = (core_preflight.estimate(workloads[name], t4) for name in ("full_ft", "lora_scratch"))
    assert full_ft.precision == "float32" and full_ft.fits and lora.fits
    assert lora.optimizer < 0.01 * full_ft.optimizer, "AdamW state only for LoRA's few parameters"
    assert full_ft.weights == pytest.approx(60_506_624 * 4)


def test_evaluation_passes_count_validation_and_the_whole_test_split(full):
    passes = preflight.evaluation_forward_passes(full)
    evaluations = full.max_steps // full.eval_every + 1
    assert passes == -(-(evaluations * full.validation_examples + 25_000) // full.batch_size)


def test_disk_counts_the_downloads_and_full_finetunings_checkpoint(full):
    disk = preflight.disk(full)
    assert disk["downloads"] == 60_506_624 * 4 + preflight.IMDB_DOWNLOAD_BYTES
    assert disk["outputs"] == 60_506_624 * 4 * 3
    assert torch.tensor(list(disk.values())).gt(0).all()
