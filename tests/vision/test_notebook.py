"""Notebook 04 (ViT on Food101 with LoRA): learning, the reloaded adapter, parameter counts, predict."""

from __future__ import annotations

import pytest

NAME = "04_vit_food101"
pytestmark = pytest.mark.notebook


def test_smoke_run_is_fast_and_lora_beats_chance_on_the_held_out_split(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    assert run.seconds < 120, f"smoke run took {run.seconds:.0f} s (budget: 2 minutes)"
    chance = run.results["chance"]
    lora = run.method("lora")["metrics"]
    assert lora["top1_accuracy"] > 2 * chance, (lora, chance)
    assert lora["top5_accuracy"] >= lora["top1_accuracy"]
    assert run.method("linear_probe")["metrics"]["top1_accuracy"] > chance


def test_reloaded_adapter_reproduces_the_predictions(smoke_run):
    adapter = smoke_run(NAME).results["adapter"]
    assert adapter["reloaded_predictions_identical"] is True
    assert adapter["max_abs_logit_difference"] < 1e-5
    assert "adapter_model.safetensors" in adapter["files"] and "adapter_config.json" in adapter["files"]
    assert 0 < adapter["bytes"] < adapter["full_model_bytes"]


def test_trainable_parameters_analytic_equal_counted(smoke_run):
    results = smoke_run(NAME).results
    reference = results["parameters"]["reference_vit_base_101"]
    assert reference["analytic"]["total"] == reference["counted"] == 667_493
    assert reference["base_total"] == 85_876_325
    this_run = results["parameters"]["this_run"]
    lora, probe = results["methods"]["lora"], results["methods"]["linear_probe"]
    assert this_run["analytic"]["total"] == this_run["counted"] == lora["trainable_parameters"]
    assert probe["trainable_parameters"] == this_run["analytic"]["head"] < lora["trainable_parameters"]


def test_trainer_kept_the_best_checkpoint_and_both_methods_had_the_same_budget(smoke_run):
    results = smoke_run(NAME).results
    epochs = results["settings"]["epochs"]
    for name in ("lora", "linear_probe"):
        method = results["methods"][name]
        history = method["eval_history"]
        assert len(history) == epochs, f"{name}: one evaluation per epoch"
        assert method["metrics"]["best_eval_accuracy"] == max(r["eval_accuracy"] for r in history)
        assert method["train"]["wall_time_s"] > 0 and method["train"]["samples_per_s"] > 0
    assert results["methods"]["lora"]["optimizer_steps"] == results["methods"]["linear_probe"]["optimizer_steps"]


def test_prediction_on_the_new_image_and_the_bad_path_error(smoke_run):
    results = smoke_run(NAME).results
    prediction = results["prediction"]
    top = prediction["top5"]
    probabilities = [row["probability"] for row in top]
    assert len(top) == 5 and probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
    assert set(row["label"] for row in top) <= set(results["per_class_f1"])
    assert top[0]["label"] == prediction["true_label"], top  # an easy fixture photo: the trained model gets it right
    assert prediction["bad_path_error"].startswith("DataError: ") and "not an image" in prediction["bad_path_error"]
