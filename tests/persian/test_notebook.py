"""Notebook 09 (Persian LM): what its smoke run's results.json must show, determinism, resuming, bad input."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from hwutils.batch.runner import execute_notebook
from tests.conftest import notebook_path

NAME = "09_persian_llm"
SOFT = ("prompt_tuning_text", "prompt_tuning_random", "p_tuning")
REASONING = ("direct_zero_shot", "direct_few_shot", "cot_zero_shot", "cot_few_shot")
pytestmark = pytest.mark.notebook


def test_the_smoke_run_succeeds_and_its_checks_pass(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    failed = {name for name, check in run.results["checks"].items() if not check["passed"]}
    # self-consistency may honestly fail to help a tiny model; everything else must hold
    assert failed <= {"self_consistency_largest_k_at_least_k1"}, failed
    assert run.results["checks"]["plot_label_drawn_right_to_left"]["passed"]


def test_prompt_tuning_beats_the_zero_shot_hard_prompt(smoke_run):
    methods = smoke_run(NAME).results["methods"]
    zero_shot = methods["hard_zero_shot"]["metrics"]["accuracy"]
    assert methods["prompt_tuning_text"]["metrics"]["accuracy"] >= zero_shot + 0.05
    for method in SOFT:  # every soft prompt learned the task (chance is 0.5), training only a sliver of the model
        record = methods[method]
        assert record["metrics"]["accuracy"] >= 0.75 and record["metrics"]["macro_f1"] >= 0.75, method
        assert 0 < record["trainable_parameters"] == record["analytic_parameters"] < 0.5 * record["total_parameters"]
    assert methods["prompt_tuning_text"]["trainable_parameters"] < methods["p_tuning"]["trainable_parameters"]


def test_the_text_initialised_prompt_started_as_the_zero_shot_prompt(smoke_run):
    results = smoke_run(NAME).results
    assert results["checks"]["text_init_scores_equal_zero_shot_prompt"]["passed"]
    assert results["prompt_tuning_text_untrained"]["accuracy"] == results["methods"]["hard_zero_shot"]["metrics"]["accuracy"]
    rows = results["nearest_tokens"]["prompt_tuning_text"]
    assert len(rows) == results["methods"]["prompt_tuning_text"]["virtual_tokens"]
    assert all(r["cosine before"] > 0.9999 for r in rows)
    assert not all(r["cosine after"] > 0.9999 for r in rows)  # training moved the vectors


def test_the_extraction_examples_cover_persian_arabic_indic_and_ascii_digits(smoke_run):
    rows = smoke_run(NAME).results["number_extraction"]
    covered = {name.strip() for row in rows for name in row["digits"].split(",")}
    assert {"persian", "arabic_indic", "ascii"} <= covered
    assert all(row["correct"] for row in rows)


def test_every_reasoning_method_and_the_self_consistency_curve_are_recorded(smoke_run):
    results = smoke_run(NAME).results
    for method in REASONING:
        metrics = results["methods"][method]["metrics"]
        assert 0 <= metrics["accuracy"] <= 1 and metrics["tokens_per_problem"] > 0
    chains = results["methods"]["cot_few_shot"]["metrics"]["generated_tokens_per_problem"]
    assert chains > results["methods"]["direct_few_shot"]["metrics"]["generated_tokens_per_problem"]
    curve = results["self_consistency_curve"]
    assert [row["k"] for row in curve] == [1, 3, 5, 10]
    tokens = [row["tokens_per_problem"] for row in curve]
    assert tokens == sorted(tokens) and tokens[-1] > 5 * tokens[0]
    # the check reports what happened, whichever way it went
    check = results["checks"]["self_consistency_largest_k_at_least_k1"]
    assert check["passed"] == (curve[-1]["accuracy"] >= curve[0]["accuracy"])
    assert results["methods"]["self_consistency"]["metrics"]["accuracy_k10"] == curve[-1]["accuracy"]


def test_the_t4_estimate_is_computed_from_the_real_architecture(smoke_run):
    results = smoke_run(NAME).results
    assert results["checks"]["full_model_analytic_parameters_equal_meta_count"]["value"] == 1_543_714_304
    estimate = results["t4_estimate"]
    assert all(row["fits_t4"] for row in estimate["memory"])
    assert 0 < sum(row["estimate_s"] for row in estimate["time"]) < 3 * 3600


def test_rerun_in_same_output_dir_resumes_the_soft_prompts(smoke_run, tmp_path):
    first = smoke_run(NAME)
    same_dir = shutil.copytree(first.output_dir, tmp_path / "same-output-dir")  # a copy: other tests read the original
    rerun = smoke_run(NAME, tag="resumed", output_dir=same_dir)
    assert rerun.ok, rerun.error
    for method in SOFT:
        assert rerun.method(method)["resumed_from_step"] == first.results["settings"]["soft_prompt_steps"]
        assert rerun.method(method)["metrics"] == first.method(method)["metrics"]


def test_unknown_profile_fails_at_once_with_one_clear_line(tmp_path):
    outcome = execute_notebook(notebook_path(NAME), tmp_path, profile="bogus", threads=1)
    assert not outcome.ok
    assert "ConfigError: unknown profile 'bogus'; valid profiles: full, smoke" in outcome.error
    executed = nbformat.read(outcome.notebook, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1
