"""Notebook 01 (T5 on IMDB, ten runs): every run learns, the parameter table, merged LoRA and saved
weights that reload, read from the smoke run's results.json."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

NAME = "01_t5_imdb"
pytestmark = pytest.mark.notebook
PROMPTS = ["prompt_tuning_scratch", "prompt_tuning_peft", "prompt_tuning_opendelta"]
ADAPTERS = ["adapter_scratch", "adapter_adapters", "adapter_opendelta"]
LORAS = ["lora_scratch", "lora_peft", "lora_opendelta"]
ALL_RUNS = ["full_ft", *PROMPTS, *ADAPTERS, *LORAS]


def beats_chance(accuracy: float, n: int) -> bool:
    """Above 50% by more than three standard errors of a coin-flipping classifier on n examples."""
    return accuracy > 0.5 + 3 * math.sqrt(0.25 / n)


def test_smoke_run_executes_all_ten_trainings_and_validates(smoke_run):
    from hwutils.core.results import validate

    run = smoke_run(NAME)
    assert run.ok, run.error
    assert list(run.results["methods"]) == ALL_RUNS
    assert validate(run.results) == []
    headline = run.results["headline"]
    assert (headline["method"], headline["metric"]) == ("lora_scratch", "accuracy")
    assert headline["value"] == run.results["methods"]["lora_scratch"]["metrics"]["accuracy"]


@pytest.mark.parametrize("method", ALL_RUNS)
def test_training_loss_falls(smoke_run, method):
    metrics = smoke_run(NAME).method(method)["metrics"]
    assert metrics["last_train_loss"] < 0.5 * metrics["first_train_loss"], metrics


@pytest.mark.parametrize("method", ["full_ft", *ADAPTERS, *LORAS])
def test_full_finetuning_adapters_and_lora_beat_chance(smoke_run, method):
    results = smoke_run(NAME).results
    assert beats_chance(results["methods"][method]["metrics"]["accuracy"], results["zero_shot"]["test_examples"])


def test_full_finetuning_and_lora_beat_the_frozen_model_by_a_margin(smoke_run):
    """Orderings with slack: these runs fit the task format; the frozen model has never seen it."""
    results = smoke_run(NAME).results
    zero_shot = results["zero_shot"]["accuracy"]
    for method in ["full_ft", *LORAS]:
        assert results["methods"][method]["metrics"]["accuracy"] > zero_shot + 0.03, (method, zero_shot)
    adapters = np.mean([results["methods"][m]["metrics"]["accuracy"] for m in ADAPTERS])
    assert adapters > zero_shot, (adapters, zero_shot)


def test_prompt_tuning_is_reported_with_its_costs(smoke_run):
    """No accuracy is demanded of prompt tuning (a tiny frozen model gives it little to steer), but it
    is measured and recorded like every other run."""
    results = smoke_run(NAME).results
    for method in PROMPTS:
        record = results["methods"][method]
        assert 0 <= record["metrics"]["accuracy"] <= 1
        assert record["trainable_parameters"] == results["settings"]["prompt_tokens"] * 64
        assert record["train"]["wall_time_s"] > 0 and record["train"]["samples_per_s"] > 0
        assert record["generation_check"]["examples"] == results["settings"]["generate_examples"]
        assert record["lr"] == results["settings"]["prompt_tuning_lr"]


def test_twins_with_identical_initialisation_give_identical_results(smoke_run):
    methods = smoke_run(NAME).results["methods"]
    for scratch, library in (("prompt_tuning_scratch", "prompt_tuning_peft"), ("lora_scratch", "lora_peft")):
        assert methods[scratch]["metrics"] == methods[library]["metrics"]
        assert methods[scratch]["trainable_parameters"] == methods[library]["trainable_parameters"]
    for family in (PROMPTS, ADAPTERS, LORAS):
        assert len({methods[m]["trainable_parameters"] for m in family}) == 1, "same hyper-parameters, same size"


def test_parameter_table_analytic_equals_counted(smoke_run):
    results = smoke_run(NAME).results
    assert results["checks"]["analytic_parameters_equal_counted"]["passed"]
    table = results["parameter_table"]
    assert table["full_ft"]["counted (t5-small)"] == 60_506_624
    assert table["lora"]["counted (t5-small)"] == 294_912
    assert table["full_ft"]["counted (this model)"] == results["methods"]["full_ft"]["trainable_parameters"]
    for family, method in (("prompt_tuning", "prompt_tuning_scratch"), ("adapter", "adapter_scratch"), ("lora", "lora_scratch")):
        assert table[family]["counted (this model)"] == results["methods"][method]["trainable_parameters"]


def test_lora_merge_keeps_the_outputs(smoke_run):
    results = smoke_run(NAME).results
    assert results["checks"]["merged_lora_keeps_the_logits"]["passed"]
    assert results["lora_merge"]["max_abs_logit_difference"] < 1e-4


@pytest.mark.parametrize("method, module", [("lora_scratch", "lora"), ("adapter_scratch", "adapters"),
                                            ("prompt_tuning_scratch", "prompts")])
def test_saved_weights_exist_and_reload_to_the_recorded_accuracy(smoke_run, method, module):
    import importlib

    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from hwutils.core.profiles import Settings
    from hwutils.t5_peft import recipe, text2text

    run = smoke_run(NAME)
    assert run.results["checks"]["reloaded_weights_reproduce_the_trained_models"]["passed"]
    path = Path(run.output_dir) / f"{method}.pt"
    assert path.exists(), f"{path.name} was not written"
    saved = run.results["saved_weights"][method]
    assert saved["same_test_predictions"] and saved["max_abs_score_difference"] == 0
    assert saved["bytes"] < 0.5 * 4 * run.results["methods"]["full_ft"]["trainable_parameters"]

    settings = Settings(NAME, "smoke", run.results["settings"])
    model = importlib.import_module(f"hwutils.t5_peft.{module}").load(
        T5ForConditionalGeneration.from_pretrained(settings.model), path)
    tokenizer = AutoTokenizer.from_pretrained(settings.model)
    data = recipe.encode_reviews(tokenizer, settings, recipe.load_reviews(settings, run.results["seed"]))
    accuracy = text2text.accuracy(model, data.test, data.label_ids, model.config.decoder_start_token_id)
    assert np.isclose(accuracy, run.results["methods"][method]["metrics"]["accuracy"], atol=1e-12)


def test_full_profile_uses_t5_small_and_imdb_and_the_same_setting_names():
    from hwutils.core.profiles import load_settings, profile_table

    full = load_settings(NAME, "full")
    assert (full.model, full.dataset) == ("t5-small", "imdb")
    table = profile_table(NAME)
    assert set(table["smoke"]) == set(table["full"])


def test_unknown_profile_fails_at_once_with_one_clear_line(tmp_path):
    import nbformat

    from hwutils.batch.runner import execute_notebook
    from tests.conftest import notebook_path

    outcome = execute_notebook(notebook_path(NAME), tmp_path, profile="bogus", threads=1)
    assert not outcome.ok and "ConfigError: unknown profile 'bogus'; valid profiles: full, smoke" in outcome.error
    executed = nbformat.read(outcome.notebook, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1
