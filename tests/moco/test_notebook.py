"""Notebook 08 (MoCo): what its smoke run must show, read from results.json."""

from __future__ import annotations

import shutil

import pytest

from hwutils.moco.experiments import number_key

NAME = "08_moco"
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def results(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    return run.results


def reference(results) -> dict:
    return results["methods"][number_key("momentum", results["settings"]["momentum"])]["metrics"]


def test_training_lowers_the_heldout_infonce(results):
    untrained = results["methods"]["random_init"]["metrics"]
    assert reference(results)["heldout_infonce"] <= untrained["heldout_infonce"] - 0.1


def test_the_trained_encoder_beats_the_random_one_on_knn(results):
    untrained = results["methods"]["random_init"]["metrics"]
    assert reference(results)["knn_accuracy"] >= untrained["knn_accuracy"] + 0.03


def test_copies_as_instances_have_far_more_false_negatives_than_standard_moco(results):
    methods = results["methods"]
    standard = methods["subset_standard"]["metrics"]
    instances = methods["subset_copies_as_instances"]["metrics"]
    expected = results["augmentation_as_instances"]["expected_share_if_uniform"]
    assert instances["false_negative_share"] >= 3 * standard["false_negative_share"]
    assert 0.5 * expected <= instances["false_negative_share"] <= 1.5 * expected  # counted, not made up
    # grouping the copies under their original brings the share back down
    assert methods["subset_copies_as_positives"]["metrics"]["false_negative_share"] <= 0.5 * instances["false_negative_share"]


def test_a_larger_momentum_keeps_the_queue_more_consistent(results):
    momentums = results["settings"]["momentums"]
    consistency = [results["methods"][number_key("momentum", m)]["metrics"]["queue_consistency"] for m in momentums]
    assert consistency[-1] > consistency[0]
    assert len(results["momentum_sweep"]) == len(momentums)
    assert [row["K"] for row in results["queue_sweep"]] == results["settings"]["queue_sizes"]


def test_every_numerical_check_passed(results):
    assert {name for name, check in results["checks"].items() if not check["passed"]} == set()
    assert results["headline"]["value"] == reference(results)["knn_accuracy"]


def test_rerun_in_same_output_dir_reuses_every_finished_run(smoke_run, tmp_path):
    first = smoke_run(NAME)
    same_dir = shutil.copytree(first.output_dir, tmp_path / "same-output-dir")  # a copy: other tests read the original
    rerun = smoke_run(NAME, tag="resumed", output_dir=same_dir)
    assert rerun.ok, rerun.error
    trained = {k: v for k, v in rerun.results["methods"].items() if k != "random_init"}
    assert trained and all(v["resumed_from_step"] > 0 for v in trained.values())
    assert {k: v["metrics"] for k, v in rerun.results["methods"].items()} == \
           {k: v["metrics"] for k, v in first.results["methods"].items()}
