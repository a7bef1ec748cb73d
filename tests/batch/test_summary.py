"""The grader's summary is built from results.json and outcome.json files only."""

from __future__ import annotations

from hwutils.batch.summary import build_summary, write_outcome
from hwutils.core.run import start_run
from hwutils.core.training import RunStats


def _notebook_run(reports, name, accuracy):
    run = start_run(name, "full", 0, reports / name)  # full: no fixture is built, nothing is loaded
    run.record(run.info.headline_method, {run.info.headline_metric: accuracy, "macro_f1": 0.5},
               trainable_parameters=10, total_parameters=100,
               stats=RunStats(wall_time_s=2.0, steps=1, samples=10, peak_memory_mb=50.0, device="cpu"))
    run.check("merge_difference", 1e-3, at_most=1e-4, show=False)
    return run


def test_summary_leads_with_one_row_per_notebook_then_a_column_per_metric(tmp_path):
    first = _notebook_run(tmp_path, "04_vit_food101", 0.75)
    write_outcome(first.output_dir, "ok", seconds=12.5)
    (first.output_dir / "04_vit_food101.html").write_text("<html></html>")
    second = _notebook_run(tmp_path, "02_roberta_mnli", 0.5)
    write_outcome(second.output_dir, "failed", seconds=3.0, error="cell In[3] raised ValueError: boom")

    summary = build_summary(tmp_path).read_text()
    overview = summary.split("\n\n")[1].splitlines()
    assert overview[0].startswith("| notebook | status | time (s) |")
    row = next(line for line in overview if "04_vit_food101" in line)
    assert "| ok | 12.5 |" in row and "[html](04_vit_food101/04_vit_food101.html)" in row and "75.0%" in row
    assert "merge_difference" in row, "a failed check is listed in the overview"
    assert "| FAILED |" in next(line for line in overview if "02_roberta_mnli" in line)
    assert "**02_roberta_mnli** (failed): cell In[3] raised ValueError: boom" in summary
    section = summary.split("## 04_vit_food101")[1]
    header = next(line for line in section.splitlines() if line.startswith("| method"))
    assert "| macro_f1 |" in header, "one column per metric, not a text blob"
    assert (tmp_path / "summary_accuracy_vs_parameters.png").exists()
    assert "<table>" in (tmp_path / "summary.html").read_text()


def test_summary_rebuilds_from_results_alone(tmp_path):
    _notebook_run(tmp_path, "06_nano_transformer", 0.75)
    summary = build_summary(tmp_path).read_text()
    assert "results only" in summary and "## 06_nano_transformer" in summary
