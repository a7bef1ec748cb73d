"""Notebook 02's full profile on the GPUs students have: every method described at roberta-large's size."""

from __future__ import annotations

import pytest

from hwutils.core import preflight as core
from hwutils.core.profiles import profile_table
from hwutils.encoders import methods, preflight
from hwutils.encoders import parameters as analytic

# builds roberta-large on the meta device for every method (seconds each): out of make test-fast
pytestmark = pytest.mark.slow

FULL = profile_table("02_roberta_mnli")["full"]


@pytest.fixture(scope="module")
def estimates():
    return core.estimate_all(preflight.workloads(FULL))


def test_every_trained_method_has_a_workload_with_its_analytic_trainable_count():
    workloads = {w.name: w for w in preflight.workloads(FULL)}
    table = methods.method_table(FULL)
    assert set(workloads) == {*methods.COMPARED, "course_report_p_tuning", "sentiment", "sentiment_head",
                              "merging (3 copies, inference)"}
    for key in ("full_ft", "top_layers", "lora", "course_report_p_tuning", "sentiment"):
        config = analytic.roberta_large_config(num_labels=2 if key.startswith("sentiment") else 3)
        measured = core.measure(workloads[key])
        assert measured.trainable == table[key].analytic_trainable(config), key
    assert workloads["full_ft"].steps == round(3.0 * round(0.1 * 392_702) / FULL["batch_size"])


def test_the_full_profile_fits_a_t4_for_every_method(estimates):
    on_t4 = [e for e in estimates if e.gpu.key == "t4"]
    assert len(on_t4) == len(preflight.workloads(FULL))
    assert all(e.fits for e in on_t4), [(e.workload, round(e.total / core.GIB, 1)) for e in on_t4 if not e.fits]
    assert all(e.precision == "float16" for e in on_t4)  # a T4 has no native bfloat16


def test_full_fine_tuning_needs_the_most_and_frozen_lower_layers_keep_fewer_activations(estimates):
    on_a100 = {e.workload: e for e in estimates if e.gpu.key == "a100"}
    assert on_a100["full_ft"].optimizer == 8 * analytic.sequence_classifier_parameters(analytic.roberta_large_config(), 3)
    assert max(on_a100[key].total for key in methods.COMPARED if key != "full_ft") < on_a100["full_ft"].total
    # backward stops at the lowest trained parameter: nothing below it needs its activations kept
    assert on_a100["head_only"].activations < on_a100["top_layers"].activations < on_a100["lora"].activations


def test_disk_counts_the_downloads_and_the_checkpoints_pruned_after_a_run():
    disk = preflight.disk(FULL)
    per_method = preflight.checkpoint_bytes(FULL)
    assert per_method["full_ft"] == 12 * 355_362_819  # weights and AdamW's two moments, float32
    assert disk["checkpoints (peak)"] == sum(per_method.values()) + per_method["full_ft"]
    assert 1.4e9 < disk["downloads"] - sum(preflight.DOWNLOAD_BYTES.values()) < 1.5e9  # roberta-large in float32
    kept = preflight.disk({**FULL, "keep_checkpoints": True})["outputs (kept)"]
    assert kept - disk["outputs (kept)"] == sum(per_method.values())
