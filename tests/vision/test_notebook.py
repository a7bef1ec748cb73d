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
    assert lora["accuracy"] > 2 * chance, (lora, chance)  # the backbone alone knows the shape, not the texture
    assert lora["top5_accuracy"] >= lora["accuracy"] and 0 <= lora["macro_f1"] <= 1
    probe = run.method("linear_probe")["metrics"]
    assert probe["accuracy"] > chance + 0.05, probe  # the frozen features know the shape: above chance, far from solved
    # the backbone was never taught the texture: changing its features (LoRA) beats reading them (probe)
    assert lora["accuracy"] > probe["accuracy"] + 0.05, (lora, probe)
    assert all(run.method(name)["resumed_from_step"] == 0 for name in ("lora", "linear_probe"))  # a fresh output folder


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
    # one photo, a model far from perfect: the truth is among the five best guesses (top-5 accuracy is
    # far above its chance of 1/2 on the test split), not necessarily the first
    assert prediction["true_label"] in [row["label"] for row in top], top
    assert prediction["bad_path_error"].startswith("DataError: ") and "not an image" in prediction["bad_path_error"]


# What only the full profile takes, switched on on the CPU: DataLoader worker processes, bf16 autocast
# in the Trainer, gradient accumulation over several batches, and a class-balanced train subset.
FULL_BRANCHES = {"dataloader_workers": 2, "precision": "bfloat16", "gradient_accumulation_steps": 2, "train_examples": 200,
                 "epochs": 2}


def test_full_profile_branches_run_on_the_cpu(smoke_run):
    run = smoke_run(NAME, tag="full_branches", overrides=FULL_BRANCHES)
    assert run.ok, run.error
    results = run.results
    assert results["precision"] == "bfloat16" and results["settings"]["dataloader_workers"] == 2
    assert results["data"]["splits"] == {"train": 180, "validation": 20, "test": 300}
    for name in ("lora", "linear_probe"):
        method = results["methods"][name]
        assert method["optimizer_steps"] == 2 * -(-180 // (32 * 2)), method["optimizer_steps"]  # epochs x ceil(images / 64)
        assert method["train"]["samples"] > 0 and 0 <= method["metrics"]["accuracy"] <= method["metrics"]["top5_accuracy"] <= 1
    assert results["checks"]["reloaded_adapter_same_predictions"]["passed"] is True


def test_a_rerun_in_the_same_folder_reloads_the_finished_trainings(smoke_run, tmp_path):
    """The edge-value run (small and quick) again in a copy of its output folder: both Trainer runs are
    found finished in their kept checkpoints, reloaded (no step repeated, resumed_from_step recorded),
    and score the test split exactly as before."""
    import shutil

    from tests.test_edge_values import edge_table

    edge = edge_table(NAME)
    first = smoke_run(NAME, tag="edge", overrides=edge)
    assert first.ok, first.error
    folder = shutil.copytree(first.output_dir, tmp_path / "rerun")
    again = smoke_run(NAME, tag="edge_rerun", output_dir=folder, overrides=edge)
    assert again.ok, again.error
    for name in ("lora", "linear_probe"):
        before, after = first.method(name), again.method(name)
        assert before["resumed_from_step"] == 0 and after["resumed_from_step"] == before["optimizer_steps"] > 0, name
        assert after["train"]["steps"] == 0 and after["metrics"] == before["metrics"], name
