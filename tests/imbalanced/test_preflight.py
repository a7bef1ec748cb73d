"""The full profile described for the GPU preflight: one MLP training per method, at full size."""

from __future__ import annotations

import pytest

from hwutils.core import preflight as core_preflight
from hwutils.core.profiles import load_settings
from hwutils.imbalanced import preflight
from hwutils.imbalanced.data import FEATURES
from hwutils.imbalanced.model import mlp_parameters
from hwutils.imbalanced.resampling import METHODS


@pytest.fixture(scope="module")
def full():
    return load_settings("10_fraud_detection", "full")


def test_one_workload_per_training_at_full_size(full):
    workloads = preflight.workloads(full)
    assert [w.name for w in workloads] == [*METHODS, "leaky_oversampling"]
    measured = core_preflight.measure(workloads[0])
    assert measured.parameters == measured.trainable == mlp_parameters(len(FEATURES), full.hidden_sizes)
    assert measured.step_flops > 0 and workloads[0].steps == full.mlp_steps and not workloads[0].autocast
    estimate = core_preflight.estimate(workloads[0], core_preflight.GPUS["t4"], measured)
    assert estimate.fits and estimate.total < 2**30


def test_scored_rows_count_every_evaluation_and_the_final_scoring(full):
    # 1,000 rows: test 200, validation 200; steps 10, every 5: evaluations at 0, 5, 10
    small = {**full.as_dict(), "mlp_steps": 10, "eval_every": 5, "test_fraction": 0.2, "validation_fraction": 0.25}
    settings = type(full)("10_fraud_detection", "full", small)
    assert preflight.scored_rows(settings, rows=1000) == 3 * 200 + 200 + 200


def test_disk_counts_the_download_and_one_checkpoint_per_training(full):
    disk = preflight.disk(full)
    assert disk["download"] > 100e6
    assert disk["outputs"] == 6 * mlp_parameters(len(FEATURES), full.hidden_sizes) * 12
