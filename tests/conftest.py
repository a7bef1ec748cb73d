"""Shared test fixtures: smoke runs of the notebooks, executed once per test session.

A notebook's smoke run is expensive, and several tests read it (does it execute, did the model
learn, is it deterministic). ``smoke_run(name)`` executes it at most once per session, even
across pytest-xdist workers (a file lock in a folder every worker shares), and returns the
outcome and the ``results.json`` it wrote.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from hwutils.batch.runner import discover_notebooks, execute_notebook


@dataclass
class SmokeRun:
    name: str
    ok: bool
    seconds: float
    error: str
    output_dir: Path
    results: dict[str, Any] | None

    def method(self, name: str) -> dict[str, Any]:
        assert self.results is not None, f"{self.name} wrote no results.json: {self.error}"
        return self.results["methods"][name]


def notebook_path(name: str) -> Path:
    matches = [p for p in discover_notebooks() if p.stem == name]
    assert matches, f"no notebook {name}"
    return matches[0]


@pytest.fixture(autouse=True)
def _environment_restored_after_each_test():
    """Each test leaves ``os.environ`` as it found it. Libraries write to it as a side effect
    (``TrainingArguments(bf16=True)`` sets ``ACCELERATE_MIXED_PRECISION=bf16``), and a notebook
    kernel started later by the same pytest worker inherits what is left: once, a float32 notebook
    then trained under bf16 autocast and failed the same-seed check."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def full(request):
    """The full profile's settings of the test module's notebook (its ``NAME``)."""
    from hwutils.core.profiles import load_settings

    return load_settings(request.module.NAME, "full")


@pytest.fixture(scope="module")
def workloads(request, full):
    """``{name: Workload}`` of the notebook's full profile, from the topic's preflight module (the
    test module's ``preflight``)."""
    return {workload.name: workload for workload in request.module.preflight.workloads(full)}


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory, worker_id) -> Path:
    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / "smoke-runs"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def smoke_run(smoke_root):
    """``smoke_run(name, tag="main", output_dir=None, **parameters)`` -> :class:`SmokeRun`.

    Runs with the same ``(name, tag)`` share one execution. ``output_dir`` reuses another run's
    folder (to test resuming); extra keyword arguments go to ``execute_notebook``.
    """

    def run(name: str, tag: str = "main", output_dir: Path | None = None, **parameters: Any) -> SmokeRun:
        if tag != "main":
            # Only the main run's preflight table is read by the tests; the other runs skip its
            # meta-device builds of the full profile's models (5-18 s each).
            parameters["overrides"] = {"preflight": "off", **parameters.get("overrides", {})}
        folder = Path(output_dir) if output_dir else smoke_root / f"{name}-{tag}"
        marker = smoke_root / f"{name}-{tag}.outcome.json"
        with FileLock(str(smoke_root / f"{name}-{tag}.lock")):
            if not marker.exists():
                outcome = execute_notebook(notebook_path(name), folder, "smoke", threads=1, **parameters)
                marker.write_text(json.dumps({"ok": outcome.ok, "seconds": outcome.seconds, "error": outcome.error}))
        outcome = json.loads(marker.read_text())
        results_file = folder / "results.json"
        results = json.loads(results_file.read_text()) if results_file.exists() else None
        return SmokeRun(name, outcome["ok"], outcome["seconds"], outcome["error"], folder, results)

    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """How long each notebook execution of this session took (read from the runs' markers), so a
    CI log shows where the suite's time goes. Information only: no test asserts a time."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller prints the table
        return
    roots = sorted(Path(str(config._tmp_path_factory.getbasetemp())).glob("**/smoke-runs"))
    markers = sorted({m for root in roots for m in root.glob("*.outcome.json")})
    if not markers:
        return
    terminalreporter.section("notebook executions (seconds)")
    total = 0.0
    for marker in markers:
        outcome = json.loads(marker.read_text())
        total += outcome["seconds"]
        terminalreporter.write_line(f"{outcome['seconds']:7.1f}  {marker.name.removesuffix('.outcome.json')}"
                                    + ("" if outcome["ok"] else "  (failed)"))
    terminalreporter.write_line(f"{total:7.1f}  in all ({len(markers)} executions)")
