"""The run object: one set-up call, results written after every record, checks that never raise."""

from __future__ import annotations

import json

import pytest
import torch

from hwutils.core.errors import ConfigError
from hwutils.core.run import start_run


def test_start_run_sets_everything_up_and_writes_results_at_once(tmp_path):
    run = start_run("06_nano_transformer", "smoke", 3, tmp_path / "out", {"max_steps": 5})
    assert run.settings.max_steps == 5 and run.seed == 3
    assert run.device == torch.device("cpu") and run.precision.name == "float32"
    document = json.loads(run.results_path.read_text())
    assert document["notebook"] == "06_nano_transformer" and document["methods"] == {}
    assert document["settings"]["max_steps"] == 5 and document["precision"] == "float32"
    assert "06" in run._repr_markdown_() or "nano" in run._repr_markdown_()


def test_every_record_is_on_disk_before_the_next_cell_runs(tmp_path):
    run = start_run("06_nano_transformer", "full", 0, tmp_path)
    run.record("first_method", {"accuracy": 0.5})
    assert "first_method" in json.loads(run.results_path.read_text())["methods"]
    run.attach("extra_table", [{"x": 1}])
    try:
        raise RuntimeError("a later cell fails")
    except RuntimeError:
        pass
    on_disk = json.loads(run.results_path.read_text())
    assert on_disk["methods"]["first_method"]["metrics"]["accuracy"] == 0.5 and on_disk["extra_table"] == [{"x": 1}]


def test_a_failed_check_is_recorded_and_does_not_raise(tmp_path):
    run = start_run("06_nano_transformer", "full", 0, tmp_path)
    run.record("char_lm", {"final_val_loss": 1.0})
    assert run.check("merge_difference", 2e-3, at_most=1e-3, show=False) is False
    assert run.check("loss_fell", True, passed=True, show=False) is True
    checks = json.loads(run.results_path.read_text())["checks"]
    assert checks["merge_difference"] == {"value": 2e-3, "passed": False, "at_most": 1e-3}
    assert checks["loss_fell"]["passed"] is True
    assert json.loads(run.results_path.read_text())["methods"]["char_lm"], "the earlier result is kept"


def test_bad_keys_fail_with_one_line(tmp_path):
    run = start_run("06_nano_transformer", "full", 0, tmp_path)
    with pytest.raises(ConfigError, match="snake_case"):
        run.record("Deep prompts (prefix)", {"accuracy": 0.5})
    with pytest.raises(ConfigError, match="reserved"):
        run.attach("methods", {})
    with pytest.raises(ConfigError, match="unknown setting"):
        start_run("06_nano_transformer", "smoke", 0, tmp_path, {"no_such_setting": 1})


def test_preflight_off_skips_the_estimate_and_records_an_empty_table(tmp_path):
    def workloads(settings):
        raise AssertionError("preflight = 'off' must not build the full profile's workloads")

    run = start_run("06_nano_transformer", "smoke", 0, tmp_path, {"preflight": "off"})
    run.preflight(workloads)
    assert json.loads((tmp_path / "results.json").read_text())["preflight"] == []

