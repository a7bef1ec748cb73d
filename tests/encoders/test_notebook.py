"""Notebook 02 (RoBERTa on MultiNLI): what its smoke run must show, read from results.json."""

from __future__ import annotations

import math

import pytest

from hwutils.core.results import validate

NAME = "02_roberta_mnli"
pytestmark = pytest.mark.notebook
NLI_METHODS = ["full_ft", "lora", "prompt_tuning", "p_tuning", "deep_prompts"]


def beats_chance(accuracy: float, n: int, classes: int = 3) -> bool:
    """Above chance by more than three standard deviations of a random guesser's accuracy on ``n`` examples."""
    p = 1 / classes
    return accuracy > p + 3 * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def results(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    return run.results


def test_results_follow_the_contract_with_the_lora_headline(results):
    assert validate(results) == []
    assert list(results["methods"]) == NLI_METHODS
    assert results["headline"]["method"] == "lora" and results["headline"]["metric"] == "matched_accuracy"
    assert results["headline"]["value"] == results["methods"]["lora"]["metrics"]["matched_accuracy"]
    assert results["precision"] == "float32"


@pytest.mark.parametrize("method", ["full_ft", "lora", "deep_prompts"])
def test_full_fine_tuning_lora_and_deep_prompts_beat_chance_on_held_out_pairs(results, method):
    matched = results["data"]["splits"][1]
    assert matched["split"] == "validation_matched"
    accuracy = results["methods"][method]["metrics"]["matched_accuracy"]
    assert beats_chance(accuracy, matched["pairs"]), (method, accuracy)


@pytest.mark.parametrize("method", NLI_METHODS)
def test_every_method_training_loss_falls(results, method):
    metrics = results["methods"][method]["metrics"]
    assert metrics["last_loss"] < metrics["first_loss"] - 0.05, metrics


def test_sentiment_adapter_learns(results):
    sentiment = results["sentiment"]
    assert sentiment["last_loss"] < sentiment["first_loss"]
    assert sentiment["accuracy"] > 0.6


def test_analytic_counts_equal_counted_for_the_fixture_and_roberta_large(results):
    checks = results["checks"]
    assert checks["architecture_count_mismatches"]["passed"] and checks["trainable_count_mismatches"]["passed"]
    for method in NLI_METHODS:
        record = results["methods"][method]
        assert record["analytic_trainable_parameters"] == record["trainable_parameters"], method
    rows = {r["method"]: r for r in results["parameters"]}
    assert rows["full_ft"]["roberta-large: counted"] == 355_362_819
    assert rows["lora"]["roberta-large: counted"] == 1_839_107


def test_one_base_serves_both_tasks_unchanged(results):
    checks, multitask = results["checks"], results["multitask"]
    assert checks["base_weights_unchanged"]["passed"] and checks["shared_base_prediction_agreement"]["passed"]
    assert [r["active_adapter"] for r in multitask["switching"]] == ["mnli", "sentiment", "mnli"]
    assert [r["classes"] for r in multitask["switching"]] == [3, 2, 3]
    assert multitask["adapter_bytes"]["mnli"] < multitask["full_checkpoint_bytes"]


def test_merged_equals_unmerged(results):
    assert results["checks"]["merge_max_logit_difference"]["passed"]
    merging = results["merging"]
    assert merging["prediction_agreement"] == 1.0
    assert any(name.endswith("query.weight") for name in merging["changed_base_tensors"])


def test_prefix_fix_and_course_report_mistake_are_recorded(results):
    assert "not supported between instances of 'tuple' and 'int'" in results["prefix_tuning_without_fix"]
    mistake = results["course_report_p_tuning"]
    assert mistake["roberta_large_trainable"] == 52_824_323  # P-tuning + head + the 51,471,360-entry embedding matrix
    assert mistake["roberta_large_counted_by_name"] == 52_824_323 + 51_471_360  # the matrix under two names
    assert mistake["moved"] < mistake["correct_moved"]
