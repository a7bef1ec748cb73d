"""Notebook 06 (nano transformer): learning, speed, determinism, resuming, and bad inputs."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from hwutils.batch.runner import execute_notebook
from tests.conftest import notebook_path

NAME = "06_nano_transformer"
pytestmark = pytest.mark.notebook


def test_validation_loss_falls(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    metrics = run.method("char_lm")["metrics"]
    assert metrics["final_val_loss"] <= 0.7 * metrics["first_val_loss"], metrics


def test_parameter_and_shape_checks_pass(smoke_run):
    results = smoke_run(NAME).results
    assert {name for name, check in results["checks"].items() if not check["passed"]} == set()
    assert results["encoder_decoder"]["shapes_agree"]
    parts = results["encoder_decoder"]["parameters"]
    assert parts["whole model"]["analytic"] == parts["whole model"]["counted"] == 87_731_712
    char_lm = results["methods"]["char_lm"]
    assert char_lm["analytic_parameters"] == char_lm["total_parameters"]


def test_rerun_in_same_output_dir_resumes_from_checkpoint(smoke_run, tmp_path):
    first = smoke_run(NAME)
    same_dir = shutil.copytree(first.output_dir, tmp_path / "same-output-dir")  # a copy: other tests read the original
    rerun = smoke_run(NAME, tag="resumed", output_dir=same_dir)
    assert rerun.ok, rerun.error
    char_lm = rerun.method("char_lm")
    assert char_lm["resumed_from_step"] == first.results["settings"]["max_steps"]
    assert char_lm["metrics"] == first.method("char_lm")["metrics"]


def test_unknown_profile_fails_at_once_with_one_clear_line(tmp_path):
    outcome = execute_notebook(notebook_path(NAME), tmp_path, profile="bogus", threads=1)
    assert not outcome.ok
    assert "ConfigError: unknown profile 'bogus'; valid profiles: full, smoke" in outcome.error
    executed = nbformat.read(outcome.notebook, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1, "the error should be one line, not a traceback wall"


def test_the_full_profiles_mixed_precision_branch_runs_on_the_cpu(smoke_run):
    """bfloat16 autocast (what the full profile picks on an A100 or L4), on the CPU."""
    run = smoke_run(NAME, tag="full_branches", overrides={"precision": "bfloat16"})
    assert run.ok, run.error
    assert run.results["precision"] == "bfloat16"
    metrics = run.method("char_lm")["metrics"]
    assert metrics["final_val_loss"] <= 0.7 * metrics["first_val_loss"], metrics
    assert all(check["passed"] for check in run.results["checks"].values())
