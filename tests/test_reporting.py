from __future__ import annotations

import json

import numpy as np

from hwutils.reporting import build_summary, format_value, markdown_table, method_record, read_results, write_results
from hwutils.training import RunStats


def test_format_value():
    assert format_value(294912) == "294,912"
    assert format_value(0.123456) == "0.1235"
    assert format_value(float("nan")) == "n/a"
    assert format_value(123456.7) == "123,457"
    assert format_value(True) == "True"


def test_markdown_table_renders_computed_values():
    table = markdown_table([{"method": "lora", "accuracy": np.float32(0.5), "params": np.int64(1000)}])
    assert table.splitlines() == ["| method | accuracy | params |", "|---|---|---|", "| lora | 0.5 | 1,000 |"]


def test_results_round_trip_and_summary(tmp_path):
    stats = RunStats(wall_time_s=2.0, steps=1, samples=10, tokens=100, peak_memory_mb=50.0)
    record = method_record({"accuracy": np.float64(0.75)}, trainable_parameters=10, total_parameters=100, stats=stats)
    assert record["trainable_share"] == 0.1 and record["train"]["samples_per_s"] == 5.0
    path = write_results(tmp_path / "nb_a", notebook="nb_a", profile="smoke", seed=0, methods={"lora": record},
                         extra_table=[{"x": np.int64(1)}])
    results = read_results(path)
    assert results["methods"]["lora"]["metrics"]["accuracy"] == 0.75
    assert results["extra_table"] == [{"x": 1}] and "torch" in results["versions"]
    json.loads(path.read_text())  # plain JSON

    write_results(tmp_path / "nb_b", notebook="nb_b", profile="smoke", seed=0, methods={"m": method_record({"loss": 1.0})})
    summary = build_summary(tmp_path, failures={"nb_b": "cell In[3] raised ValueError: boom"}).read_text()
    assert "## nb_a" in summary and "accuracy=0.75" in summary and "10" in summary
    assert "## nb_b" not in summary, "a failed notebook's stale results must not be summarised"
    assert "**nb_b**: cell In[3] raised ValueError: boom" in summary
    assert "<table>" in (tmp_path / "summary.html").read_text()
