"""Notebook 04 (ViT on Food101 with LoRA): learning, the reloaded adapter, parameter counts, predict."""

from __future__ import annotations

import pytest

from hwutils.core.results import validate

NAME = "04_vit_food101"
pytestmark = pytest.mark.notebook


def test_smoke_run_writes_valid_results_and_lora_beats_chance_on_the_held_out_split(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    assert validate(run.results) == []
    assert run.results["headline"] == {"method": "lora", "metric": "accuracy", "value": run.method("lora")["metrics"]["accuracy"]}
    chance = run.results["data"]["chance"]
    lora = run.method("lora")["metrics"]
    assert lora["accuracy"] > 2 * chance, (lora, chance)
    assert lora["top5_accuracy"] >= lora["accuracy"] and 0 <= lora["macro_f1"] <= 1
    assert run.method("linear_probe")["metrics"]["accuracy"] > chance


def test_reloaded_adapter_reproduces_the_predictions(smoke_run):
    results = smoke_run(NAME).results
    assert results["checks"]["reloaded_adapter_same_predictions"]["passed"] is True
    assert results["checks"]["reloaded_adapter_max_logit_difference"]["passed"] is True
    adapter = results["adapter"]
    assert "adapter_model.safetensors" in adapter["files"] and "adapter_config.json" in adapter["files"]
    assert 0 < adapter["bytes"] < adapter["full_model_bytes"]


def test_trainable_parameters_analytic_equal_counted(smoke_run):
    results = smoke_run(NAME).results
    assert results["checks"]["analytic_trainable_parameters_equal_counted"]["passed"] is True
    reference = results["parameters"]["reference_vit_base"]
    assert reference["trainable_analytic"] == reference["trainable_counted"] == 667_493
    assert reference["base_total"] == 85_876_325
    this_run = results["parameters"]["this_run"]
    lora, probe = results["methods"]["lora"], results["methods"]["linear_probe"]
    assert this_run["trainable_counted"] == lora["trainable_parameters"]
    assert probe["trainable_parameters"] == this_run["head_analytic"] < lora["trainable_parameters"]


def test_trainer_kept_the_best_checkpoint_and_both_methods_had_the_same_budget(smoke_run):
    results = smoke_run(NAME).results
    epochs = results["settings"]["epochs"]
    for name in ("lora", "linear_probe"):
        method = results["methods"][name]
        history = method["validation_history"]
        assert len(history) == epochs, f"{name}: one evaluation per epoch"
        assert method["metrics"]["best_validation_accuracy"] == max(r["eval_accuracy"] for r in history)
        assert method["train"]["samples"] > 0 and method["train"]["steps"] == method["optimizer_steps"]
    assert results["methods"]["lora"]["optimizer_steps"] == results["methods"]["linear_probe"]["optimizer_steps"]


def test_prediction_on_the_new_image_and_the_bad_path_error(smoke_run):
    results = smoke_run(NAME).results
    prediction = results["prediction"]
    top = prediction["top5"]
    probabilities = [row["probability"] for row in top]
    assert len(top) == 5 and probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
    assert set(row["label"] for row in top) <= set(results["per_class_f1"]) == set(results["data"]["classes"])
    assert top[0]["label"] == prediction["true_label"], top  # an easy fixture photo: the trained model gets it right
    assert prediction["bad_path_error"].startswith("DataError: ") and "not an image" in prediction["bad_path_error"]
