"""Notebook 10 (fraud detection): what its smoke run found, that it repeats, resumes, and fails clearly.

Assertions are orderings with margins, not values tuned to one machine.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from hwutils.batch.runner import execute_notebook
from tests.conftest import notebook_path

NAME = "10_fraud_detection"
METHODS = ["no_rebalancing", "class_weighted", "random_undersampling", "smote", "adasyn"]
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def results(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    return run.results


def test_always_not_fraud_is_accurate_and_useless(results):
    baseline = results["methods"]["always_not_fraud"]["metrics"]
    assert baseline["accuracy"] > 0.99
    assert baseline["recall"] == 0 and baseline["flagged"] == 0


def test_every_method_learned_far_beyond_the_baseline(results):
    fraud_rate = results["methods"]["always_not_fraud"]["metrics"]["average_precision"]
    for method in METHODS:
        metrics = results["methods"][method]["metrics"]
        assert metrics["average_precision"] > 20 * fraud_rate, (method, metrics)
        assert metrics["roc_auc"] > 0.75, (method, metrics)


def test_a_rebalancing_method_beats_no_rebalancing(results):
    metrics = {m: results["methods"][m]["metrics"] for m in METHODS}
    plain = metrics["no_rebalancing"]
    best_ap = max(metrics[m]["average_precision"] for m in METHODS[1:])
    best_recall = max(metrics[m]["recall_at_precision"] for m in METHODS[1:])
    assert best_ap > plain["average_precision"] + 0.05 or best_recall > plain["recall_at_precision"] + 0.05, metrics
    assert results["checks"]["a_rebalancing_method_beats_no_rebalancing"]["passed"]


def test_oversampling_before_the_split_inflates_the_test_metrics(results):
    leaky = results["methods"]["leaky_oversampling"]
    honest = results["methods"][leaky["oversampler"]]["metrics"]
    for metric in ("average_precision", "roc_auc", "recall_at_precision"):
        assert leaky["metrics"][metric] > honest[metric] + 0.05, (metric, leaky["metrics"], honest)
    # even scored on the real test rows only, the leaky model has seen the test frauds' neighbourhoods
    assert leaky["real_test_metrics"]["average_precision"] > honest["average_precision"], leaky["real_test_metrics"]
    assert 0 < leaky["synthetic_train_made_from_test"] < 1
    assert [row["set-up"].split(":")[0] for row in results["leakage"]] == ["honest", "leaky", "leaky"]


def test_the_threshold_is_chosen_on_validation_and_differs_from_one_half(results):
    thresholds = {m: results["methods"][m]["metrics"]["threshold"] for m in METHODS}
    assert thresholds["no_rebalancing"] < 0.5 < thresholds["smote"], thresholds


def test_records_checks_and_curves_are_complete(results):
    assert {name for name, check in results["checks"].items() if not check["passed"]} == set()
    assert results["headline"]["value"] == results["methods"]["smote"]["metrics"]["average_precision"]
    steps = results["settings"]["mlp_steps"]
    for method in METHODS:
        record = results["methods"][method]
        assert record["train"]["steps"] == steps and record["validation_curve"][-1]["step"] == steps
        assert record["trainable_parameters"] == record["total_parameters"] == 4097
        assert sum(map(sum, record["confusion"])) == results["splits"][2]["transactions"]
    placement = {row["points"]: row for row in results["synthetic_placement"]}
    assert placement["adasyn synthetic"]["mean legit-neighbour share"] > placement["smote synthetic"]["mean legit-neighbour share"]


def test_rerun_in_same_output_dir_resumes_every_training(smoke_run, results, tmp_path):
    first = smoke_run(NAME)
    same_dir = shutil.copytree(first.output_dir, tmp_path / "same-output-dir")  # a copy: other tests read the original
    rerun = smoke_run(NAME, tag="resumed", output_dir=same_dir)
    assert rerun.ok, rerun.error
    for method in [*METHODS, "leaky_oversampling"]:
        record = rerun.method(method)
        assert record["resumed_from_step"] == results["settings"]["mlp_steps"], method
        assert record["metrics"] == results["methods"][method]["metrics"], method


def test_a_missing_dataset_fails_at_once_with_one_clear_line(tmp_path):
    outcome = execute_notebook(notebook_path(NAME), tmp_path, profile="smoke", threads=1,
                               overrides={"dataset": "/nonexistent/creditcard"})
    assert not outcome.ok
    assert "DataError: dataset path '/nonexistent/creditcard' does not exist" in outcome.error
    executed = nbformat.read(outcome.notebook, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1, "the error should be one line, not a traceback wall"
