"""Notebook 02 (RoBERTa on MultiNLI): what its smoke run must show, read from results.json."""

from __future__ import annotations

import math

import pytest

NAME = "02_roberta_mnli"
pytestmark = pytest.mark.notebook
NLI_METHODS = ["full fine-tuning", "LoRA", "prompt tuning", "P-tuning", "deep prompts (prefix)"]


def beats_chance(accuracy: float, n: int, classes: int = 3) -> bool:
    """Above chance by more than three standard deviations of a random guesser's accuracy on ``n`` examples."""
    p = 1 / classes
    return accuracy > p + 3 * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def results(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    return run.results


def test_every_method_trains_in_under_three_minutes_and_the_notebook_stays_in_budget(smoke_run, results):
    training = [results["methods"][m]["train"]["wall_time_s"] for m in NLI_METHODS]
    training += [results["course_report_mistake"]["train"]["wall_time_s"], results["multitask"]["sentiment"]["train"]["wall_time_s"]]
    assert sum(training) < 180, training
    assert smoke_run(NAME).seconds < 300, smoke_run(NAME).seconds  # ~150 s alone on 2 cores; slack for a busy CI machine


@pytest.mark.parametrize("method", ["full fine-tuning", "LoRA", "deep prompts (prefix)"])
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
    sentiment = results["multitask"]["sentiment"]
    assert sentiment["last_loss"] < sentiment["first_loss"]
    assert sentiment["accuracy"] > 0.6


def test_analytic_trainable_counts_equal_counted_for_the_fixture_and_roberta_large(results):
    for method in NLI_METHODS:
        record = results["methods"][method]
        assert record["analytic_trainable_parameters"] == record["trainable_parameters"], method
        real = record["roberta_large"]
        assert real["trainable_analytic"] == real["trainable_counted"], method
    rows = {r["method"]: r for r in results["parameters"]}
    assert rows["full fine-tuning"]["roberta-large: counted"] == 355_362_819
    assert rows["LoRA"]["roberta-large: counted"] == 1_839_107
    assert all(r["this run: analytic"] == r["this run: counted"] for r in results["architecture"])


def test_one_base_serves_both_tasks_unchanged(results):
    multitask = results["multitask"]
    assert multitask["base_unchanged"] and multitask["checksum_before"] == multitask["checksum_after"]
    assert [r["active adapter"] for r in multitask["switching"]] == ["mnli", "sentiment", "mnli"]
    assert [r["classes"] for r in multitask["switching"]] == [3, 2, 3]
    assert all(r["same predictions"] == 1.0 for r in multitask["switching"])
    assert multitask["adapter_bytes"]["mnli"] < multitask["full_checkpoint_bytes"]


def test_merged_equals_unmerged(results):
    merging = results["merging"]
    assert merging["max_abs_logit_difference"] <= 1e-4
    assert merging["prediction_agreement"] == 1.0
    assert any(name.endswith("query.weight") for name in merging["changed_base_tensors"])


def test_prefix_fix_and_course_report_mistake_are_recorded(results):
    assert "not supported between instances of 'tuple' and 'int'" in results["prefix_tuning_without_fix"]
    mistake = results["course_report_mistake"]
    assert mistake["roberta_large_trainable"] == 52_824_323  # P-tuning + head + the 51,471,360-entry embedding matrix
    assert mistake["moved"] < mistake["correct_moved"]
