"""The batch runner on tiny throwaway notebooks: failures, partial outputs, exit status, exports."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from hwutils.batch import cli as batch_cli, runner as batch
from hwutils.core.errors import ConfigError
from tests.batch.helpers import write_notebook


@pytest.fixture
def tiny_notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder, "01_ok", "from hwutils.core.results import method_record, write_document",
                   "write_document(OUTPUT_DIR, {'notebook': '01_ok', 'profile': PROFILE, 'seed': SEED, 'device': 'cpu', "
                   "'headline': {'method': 'm', 'metric': 'accuracy', 'value': 1.0}, "
                   "'methods': {'m': method_record({'accuracy': 1.0})}, 'checks': {}})")
    write_notebook(folder, "02_fails", "print('before the failure')", "raise ValueError('boom')", "print('never')")
    return folder


def test_select_notebooks_by_name_or_prefix(tiny_notebooks):
    notebooks = batch.discover_notebooks(tiny_notebooks)
    assert [p.stem for p in batch.select_notebooks(notebooks, ["02"])] == ["02_fails"]
    assert [p.stem for p in batch.select_notebooks(notebooks, ["01_ok", "02"])] == ["01_ok", "02_fails"]
    with pytest.raises(ConfigError, match="'nope' is not a notebook; valid names: 01_ok, 02_fails"):
        batch.select_notebooks(notebooks, ["nope"])
    with pytest.raises(ConfigError, match="matches several"):
        batch.select_notebooks(notebooks, ["0"])


@pytest.mark.notebook
def test_batch_continues_past_a_failure_and_names_the_cell(tiny_notebooks, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(batch, "find_chromium", lambda: None)
    reports = tmp_path / "reports"
    status = batch.run_batch("smoke", jobs=2, pdf=True, reports=reports, folders=[tiny_notebooks])
    out = capsys.readouterr().out
    assert status == 1
    assert "PDF export needs Chromium" in out and "apt-get install chromium" in out
    assert re.search(r"FAILED 02_fails: cell In\[\d+\] `raise ValueError\('boom'\)` raised ValueError: boom", out), out
    assert "[ok] 01_ok" in out
    assert (reports / "01_ok" / "results.json").exists() and (reports / "01_ok" / "01_ok.html").exists()
    partial = nbformat.read(reports / "02_fails" / "02_fails.ipynb", as_version=4)
    printed = [o.get("text", "") for c in partial.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("before the failure" in text for text in printed), "the failed notebook's partial output is kept"
    assert (reports / "02_fails" / "02_fails.html").exists()
    summary = (reports / "summary.md").read_text()
    assert "## 01_ok" in summary and "02_fails" in summary


@pytest.mark.skipif(batch.find_chromium() is None, reason="no Chromium on this machine")
def test_pdf_export_with_chromium(tmp_path):
    html = tmp_path / "page.html"
    html.write_text("<h1>Report</h1><p>accuracy 0.9</p>")
    pdf = batch.export_pdf(html, batch.find_chromium())
    assert pdf.read_bytes().startswith(b"%PDF")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwutils", *args], capture_output=True, text=True, timeout=120)


def test_cli_rejects_an_unknown_notebook_in_one_line():
    done = cli("run", "--only", "99_nope")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("hwutils: error: '99_nope' is not a notebook; valid names:")
    assert "Traceback" not in done.stderr


def test_cli_rejects_an_unknown_profile():
    done = cli("run", "--profile", "bogus")
    assert done.returncode == 2 and "invalid choice: 'bogus'" in done.stderr and "Traceback" not in done.stderr


def test_cli_lists_notebooks():
    done = cli("list")
    assert done.returncode == 0 and "06_nano_transformer" in done.stdout


def test_parse_override():
    assert batch_cli._parse_override("max_steps=10") == ("max_steps", 10)
    assert batch_cli._parse_override("dataset=/data/x") == ("dataset", "/data/x")


def test_smoke_notebooks_run_on_one_thread_and_full_shares_the_cores():
    assert batch.default_threads("smoke", 1) == 1 and batch.default_threads("smoke", 4) == 1
    assert batch.default_threads("full", 1) >= 1
    assert batch.default_threads("full", 1000) == 1


def test_set_applies_a_key_to_the_notebooks_that_define_it_and_says_where(capsys):
    from hwutils.batch.runner import discover_notebooks, distribute_overrides, select_notebooks

    notebooks = select_notebooks(discover_notebooks(), ["06", "02"])
    per_notebook = distribute_overrides(notebooks, "smoke", {"max_steps": 50, "lora_r": 4})
    assert per_notebook["06_nano_transformer"] == {"max_steps": 50}
    assert per_notebook["02_roberta_mnli"] == {"lora_r": 4}
    printed = capsys.readouterr().out
    assert "--set max_steps=50 applies to 06_nano_transformer (not a setting of 02_roberta_mnli)" in printed


def test_set_with_a_key_no_selected_notebook_knows_fails_with_the_valid_names():
    from hwutils.batch.runner import discover_notebooks, distribute_overrides, select_notebooks

    notebooks = select_notebooks(discover_notebooks(), ["06"])
    with pytest.raises(ConfigError, match=r"no selected notebook has a setting 'no_such_key'.*valid settings: .*max_steps"):
        distribute_overrides(notebooks, "smoke", {"no_such_key": 1})


@pytest.mark.parametrize("profile, jobs, gpus, visible, slots", [
    ("smoke", 4, ["0", "1"], "", ["0", "1"]),          # never two jobs on one GPU: 2 GPUs, 2 at a time
    ("smoke", 1, ["2", "3"], "", ["2"]),
    ("full", None, None, "0,1,2", ["0", "1", "2"]),   # full profile: one job per visible GPU
    ("full", 2, None, "0,1,2", ["0", "1"]),
    ("full", None, None, "", [None]),                 # no GPU: one job on the CPU
    ("smoke", None, None, "0,1", [None]),             # smoke runs on the CPU, one at a time by default
    ("smoke", 3, None, "0", [None, None, None]),
])
def test_slots_give_each_job_its_own_gpu(monkeypatch, profile, jobs, gpus, visible, slots):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)  # a fake device list: no GPU is needed
    assert batch.plan_slots(profile, jobs, gpus) == slots


def test_folders_with_the_same_name_get_their_parents_names(tmp_path):
    folders = [tmp_path / "alice" / "notebooks", tmp_path / "bob" / "notebooks", tmp_path / "carol"]
    assert list(batch.folder_labels(folders).values()) == ["alice_notebooks", "bob_notebooks", "carol"]
