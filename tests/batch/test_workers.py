"""The batch's worker processes, through the ``hwutils run`` command on tiny throwaway notebooks: one GPU
per job, interrupts, hung cells, dead workers, folders of students' copies, and a quiet console.

Each batch here runs a few kernels for a second or two; the assertions are on what the batch did
(environments, outcomes, order), never on how fast it was.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from itertools import combinations
from pathlib import Path

import pytest

from hwutils.batch import runner
from tests.batch.helpers import cell_outputs, hwutils_command, run_cli, wait_for, write_notebook

pytestmark = pytest.mark.notebook

# A kernel that records which GPUs it may see and when it ran; and logs through ipykernel's own
# logger, the way the kernel noise of issue 14 was printed ("KeyboardInterrupt caught in kernel.").
RECORD_DEVICE = """import json, os, time
started = time.time()
time.sleep(1.5)
record = {"visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": started, "end": time.time()}
with open(os.path.join(OUTPUT_DIR, "device.json"), "w") as file:
    json.dump(record, file)"""
KERNEL_NOISE = """from ipykernel.kernelapp import IPKernelApp
IPKernelApp.instance().log.error("KeyboardInterrupt caught in kernel.")"""


@pytest.fixture(scope="module")
def gpu_batch(tmp_path_factory):
    """Four notebooks, ``--gpus 0,1 --jobs 2``; every one passes."""
    root = tmp_path_factory.mktemp("gpus")
    for index in range(1, 5):
        write_notebook(root / "notebooks", f"0{index}_device", RECORD_DEVICE, KERNEL_NOISE)
    done = run_cli("run", "--notebooks", root / "notebooks", "--gpus", "0,1", "--jobs", "2", "--reports", root / "reports")
    return done, root / "reports"


def test_each_job_sees_exactly_one_gpu_and_no_gpu_runs_two_at_once(gpu_batch):
    done, reports = gpu_batch
    assert done.returncode == 0, done.stdout + done.stderr
    records = {folder.name: json.loads((folder / "device.json").read_text()) for folder in sorted(reports.iterdir())
               if (folder / "device.json").exists()}
    assert len(records) == 4, records
    print("environment each kernel received:", {name: r["visible"] for name, r in records.items()})
    assert all(r["visible"] in {"0", "1"} for r in records.values()), "each kernel sees exactly one of the GPUs given"
    assert {r["visible"] for r in records.values()} == {"0", "1"}, "two jobs: both GPUs in use"
    for (first, a), (second, b) in combinations(records.items(), 2):
        if a["visible"] == b["visible"]:
            assert a["end"] <= b["start"] or b["end"] <= a["start"], f"{first} and {second} ran at once on GPU {a['visible']}"
    for name, record in records.items():
        assert json.loads((reports / name / "outcome.json").read_text())["device"] == record["visible"]
        assert f"[start] {name} on GPU {record['visible']}" in done.stdout


def test_a_run_that_passed_prints_no_kernel_noise(gpu_batch):
    done, reports = gpu_batch
    assert done.returncode == 0 and done.stderr == "", done.stderr
    expected = [r"Running 4 notebook\(s\), profile 'smoke', 2 at a time on GPUs 0, 1, .*",
                r"\[start\] \S+ on GPU \d", r"\[ok\] \S+ on GPU \d in [\d.]+ s -> \S+", r" {8}\S+\.html",
                r"Summary: \S+ \(and \S+\)"]
    unexpected = [line for line in done.stdout.splitlines() if not any(re.fullmatch(p, line) for p in expected)]
    assert not unexpected, f"console lines that are not the batch's own: {unexpected}"
    assert "KeyboardInterrupt caught in kernel." in (reports / "01_device" / runner.LOG_FILE).read_text(), \
        "the kernel's own messages are kept in the notebook's batch.log"


@pytest.mark.parametrize("stop, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_batch_cleanly_and_summarises(tmp_path, stop, status):
    folder, reports = tmp_path / "notebooks", tmp_path / "reports"
    write_notebook(folder, "01_quick", "print('done')")
    write_notebook(folder, "02_sleeps", "import pathlib, time\nprint('before the sleep')",
                   "pathlib.Path(OUTPUT_DIR, 'sleeping').touch()\ntime.sleep(120)", "print('never')")
    write_notebook(folder, "03_later", "print('never started')")
    batch = subprocess.Popen(hwutils_command("run", "--notebooks", folder, "--jobs", "1", "--reports", reports),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    wait_for(reports / "02_sleeps" / "sleeping", batch)
    batch.send_signal(stop)
    out, err = batch.communicate(timeout=300)
    print(out, err)
    assert batch.returncode == status
    assert "Traceback" not in out + err and err == ""
    assert f"{stop.name} received: stopping 1 running notebook(s)" in out
    assert re.search(r"INTERRUPTED 02_sleeps: interrupted in cell In\[\d+\] `pathlib.Path\(OUTPUT_DIR, 'sleeping'\)", out), out
    summary = (reports / "summary.md").read_text()
    assert re.search(r"\| 01_quick \| ok \|", summary)
    assert re.search(r"\| 02_sleeps \| INTERRUPTED \|", summary)
    assert re.search(r"\| 03_later \| NOT STARTED \|", summary)
    assert "before the sleep" in cell_outputs(reports / "02_sleeps" / "02_sleeps.ipynb"), "the cells that ran are saved"
    assert (reports / "02_sleeps" / "02_sleeps.html").exists()


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGTERM (Python installs none of its own)."""
    caught = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads signal handlers from /proc (Linux)")
def test_a_signal_while_the_command_starts_up_still_ends_in_a_summary(tmp_path):
    write_notebook(tmp_path / "notebooks", "01_first", "print('never')")
    write_notebook(tmp_path / "notebooks", "02_second", "print('never')")
    reports = tmp_path / "reports"
    batch = subprocess.Popen(hwutils_command("run", "--notebooks", tmp_path / "notebooks", "--reports", reports),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    while batch.poll() is None and not _catches_sigterm(batch.pid):  # its handlers are in place: it is importing
        time.sleep(0.01)
    batch.send_signal(signal.SIGINT)
    out, err = batch.communicate(timeout=300)
    assert batch.returncode == 130 and "Traceback" not in out + err, out + err
    assert "SIGINT received: stopping 0 running notebook(s)" in out
    summary = (reports / "summary.md").read_text()
    assert "| 01_first | NOT STARTED |" in summary and "| 02_second | NOT STARTED |" in summary


@pytest.fixture(scope="module")
def troubled_batch(tmp_path_factory):
    """A cell that hangs (``--cell-timeout 5``), a worker killed with SIGKILL, then a notebook that passes."""
    root = tmp_path_factory.mktemp("troubled")
    write_notebook(root / "notebooks", "01_hangs", "import time", "time.sleep(120)", "print('never')")
    write_notebook(root / "notebooks", "02_dies", "import os, signal", "os.kill(os.getppid(), signal.SIGKILL)  # the worker")
    write_notebook(root / "notebooks", "03_after", "print('still running')")
    done = run_cli("run", "--notebooks", root / "notebooks", "--cell-timeout", "5", "--reports", root / "reports")
    print(done.stdout, done.stderr)
    return done, root / "reports"


def test_a_hung_cell_times_out_with_its_cell_named(troubled_batch):
    done, reports = troubled_batch
    line = "TIMED OUT 01_hangs: cell In[4] `time.sleep(120)` ran longer than the cell timeout (5 s)"
    assert line in done.stdout
    assert json.loads((reports / "01_hangs" / "outcome.json").read_text())["status"] == "timed_out"
    assert "| 01_hangs | TIMED OUT |" in (reports / "summary.md").read_text()


def test_a_dead_worker_is_reported_with_its_signal_and_the_batch_goes_on(troubled_batch):
    done, reports = troubled_batch
    assert done.returncode == 1
    assert "DIED 02_dies: the worker died with signal SIGKILL (often the out-of-memory killer); see " in done.stdout
    assert (reports / "02_dies" / "02_dies.html").exists(), "the cells it saved before dying are exported"
    assert "[ok] 03_after" in done.stdout
    assert "still running" in cell_outputs(reports / "03_after" / "03_after.ipynb")
    assert "Traceback" not in done.stdout + done.stderr


def test_folders_of_submissions_run_each_into_its_own_reports_and_compare(tmp_path):
    alice, bob = tmp_path / "alice" / "notebooks", tmp_path / "bob" / "notebooks"
    write_results = ("from hwutils.core.results import method_record, write_document\n"
                     "write_document(OUTPUT_DIR, {'notebook': '01_model', 'profile': PROFILE, 'seed': SEED, 'device': 'cpu',"
                     " 'headline': {'method': 'm', 'metric': 'accuracy', 'value': ACCURACY},"
                     " 'methods': {'m': method_record({'accuracy': ACCURACY})}, 'checks': {}})")
    write_notebook(alice, "01_model", "ACCURACY = 0.75", write_results)
    write_notebook(alice, "02_analysis", "print('analysis')", parameters=False)
    write_notebook(bob, "01_model", "ACCURACY = 0.5", write_results)
    write_notebook(bob, "02_analysis", "import not_an_installed_module")
    reports = tmp_path / "reports"
    done = run_cli("run", "--notebooks", alice, bob, "--jobs", "2", "--reports", reports)
    print(done.stdout, done.stderr)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert sorted(failures) == [
        "FAILED alice_notebooks/02_analysis: 02_analysis.ipynb has no code cell tagged 'parameters' (PROFILE, SEED, "
        "OUTPUT_DIR, OVERRIDES): it cannot be run by the batch",
        "FAILED bob_notebooks/02_analysis: cell In[3] `import not_an_installed_module` raised ModuleNotFoundError: "
        "No module named 'not_an_installed_module'"]
    for student, accuracy in (("alice", 0.75), ("bob", 0.5)):
        results = json.loads((reports / f"{student}_notebooks" / "01_model" / "results.json").read_text())
        assert results["headline"]["value"] == accuracy, "each copy ran into its own report folder"

    compared = run_cli("summary", reports, "--compare", reports / "alice_notebooks", reports / "bob_notebooks")
    assert compared.returncode == 0, compared.stderr
    table = (reports / "comparison.md").read_text()
    print(table)
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:5]) for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| submission")}
    assert ("alice_notebooks", "01_model", "ok", "m.accuracy", "75.0%") in rows
    assert ("bob_notebooks", "01_model", "ok", "m.accuracy", "50.0%") in rows
    assert ("alice_notebooks", "02_analysis", "FAILED", "", "") in rows
    assert "No module named 'not_an_installed_module'" in table
