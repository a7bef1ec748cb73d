"""Notebook 01 (T5 on IMDB, ten runs): budget, learning, parameter table, saved weights that reload."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

NAME = "01_t5_imdb"
pytestmark = pytest.mark.notebook
PROMPTS = ["prompt_scratch", "prompt_peft", "prompt_opendelta"]
ADAPTERS = ["adapter_scratch", "adapter_adapters", "adapter_opendelta"]
LORAS = ["lora_scratch", "lora_peft", "lora_opendelta"]
ALL_RUNS = ["full_finetuning", *PROMPTS, *ADAPTERS, *LORAS]


def beats_chance(accuracy: float, n: int) -> bool:
    """Above 50% by more than three standard errors of a coin-flipping classifier on n examples."""
    return accuracy > 0.5 + 3 * math.sqrt(0.25 / n)


def test_smoke_run_executes_all_ten_trainings_within_the_budget(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    assert run.seconds < 180, f"smoke run took {run.seconds:.0f} s (limit: 3 minutes)"
    assert sorted(run.results["methods"]) == sorted(ALL_RUNS)


@pytest.mark.parametrize("method", ALL_RUNS)
def test_training_loss_falls(smoke_run, method):
    metrics = smoke_run(NAME).method(method)["metrics"]
    assert metrics["last_train_loss"] < 0.5 * metrics["first_train_loss"], metrics


@pytest.mark.parametrize("method", ["full_finetuning", *ADAPTERS, *LORAS])
def test_full_finetuning_adapters_and_lora_beat_chance_and_the_frozen_model(smoke_run, method):
    results = smoke_run(NAME).results
    accuracy = results["methods"][method]["metrics"]["accuracy"]
    assert beats_chance(accuracy, results["test_examples"]), accuracy
    assert accuracy > results["zero_shot"]["accuracy"], (accuracy, results["zero_shot"])


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


def test_twins_with_identical_initialisation_give_identical_results(smoke_run):
    methods = smoke_run(NAME).results["methods"]
    for scratch, library in (("prompt_scratch", "prompt_peft"), ("lora_scratch", "lora_peft")):
        assert methods[scratch]["metrics"] == methods[library]["metrics"]
        assert methods[scratch]["trainable_parameters"] == methods[library]["trainable_parameters"]
    for family in (PROMPTS, ADAPTERS, LORAS):
        assert len({methods[m]["trainable_parameters"] for m in family}) == 1, "same hyper-parameters, same size"


def test_parameter_table_analytic_equals_counted(smoke_run):
    results = smoke_run(NAME).results
    table = results["parameter_table"]
    for method, row in table.items():
        assert row["analytic (this model)"] == row["counted (this model)"], method
        assert row["analytic (t5-small)"] == row["counted (t5-small)"], method
    assert table["full fine-tuning"]["counted (t5-small)"] == results["reference_total_parameters"] == 60_506_624
    assert table["LoRA"]["counted (t5-small)"] == 294_912
    assert table["full fine-tuning"]["counted (this model)"] == results["methods"]["full_finetuning"]["trainable_parameters"]
    assert table["LoRA"]["counted (this model)"] == results["methods"]["lora_scratch"]["trainable_parameters"]


def test_lora_merge_keeps_the_outputs(smoke_run):
    assert smoke_run(NAME).results["lora_merge"]["max_abs_logit_difference"] < 1e-4


@pytest.mark.parametrize("file, module, method", [("lora.pt", "lora", "lora_scratch"),
                                                  ("adapter.pt", "adapters", "adapter_scratch"),
                                                  ("prompts.pt", "prompts", "prompt_scratch")])
def test_saved_weights_exist_and_reload_to_the_recorded_accuracy(smoke_run, file, module, method):
    import importlib

    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from hwutils.t5_peft import text2text
    from hwutils.core.data.imdb import load_imdb

    run = smoke_run(NAME)
    path = Path(run.output_dir) / file
    assert path.exists(), f"{file} was not written"
    saved = run.results["saved_weights"][file]
    assert saved["same_test_predictions"] and saved["max_abs_score_difference"] == 0
    settings = run.results["settings"]
    assert saved["bytes"] < 0.5 * 4 * run.results["methods"]["full_finetuning"]["trainable_parameters"]

    model = importlib.import_module(f"hwutils.t5_peft.{module}").load(
        T5ForConditionalGeneration.from_pretrained(settings["model"]), path)
    tokenizer = AutoTokenizer.from_pretrained(settings["model"])
    task = text2text.TextToTextTask(settings["input_prefix"], tuple(settings["label_words"]))
    test = load_imdb(settings["dataset"], "test", n=settings["n_test"], seed=run.results["seed"])
    split = text2text.encode_split(tokenizer, task, test["text"], test["label"], settings["max_input_length"])
    accuracy = text2text.accuracy(model, split, text2text.label_token_ids(tokenizer, task.label_words),
                                  model.config.decoder_start_token_id)
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
