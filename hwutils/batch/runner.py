"""The batch runner: every notebook executed headlessly with papermill, exported, summarised.

    hwutils run [--profile smoke|full] [--only NAME ...] [--jobs N] [--threads N] [--pdf] [--set KEY=VALUE ...]
    hwutils fixtures          # build every fixture now and say how long each took
    hwutils list              # the notebooks and their settings files

Each notebook runs in the project's own kernel with its parameters ``PROFILE``, ``SEED`` and
``OUTPUT_DIR`` (= ``reports/<name>``), then is exported to HTML (and PDF with ``--pdf``).
A failure does not stop the others; the partial notebook is kept, and the run ends with one
line per failed notebook naming the failing cell, and a non-zero exit status.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from hwutils.batch.export import CHROMIUM_HELP, export_html, export_pdf, find_chromium
from hwutils.core.errors import ConfigError
from hwutils.core.paths import notebooks_dir, reports_dir
from hwutils.batch.summary import OUTCOME_FILE, build_summary, write_outcome
from hwutils.core.profiles import available_notebooks, profile_table
from hwutils.core.progress import HEADLESS_ENV

KERNEL_NAME = "hwutils"
KERNEL_START_TIMEOUT_S = 300  # papermill's 60 s default was exceeded on a busy 2-core machine
@dataclass
class Outcome:
    """What happened to one notebook in a batch run."""

    name: str
    ok: bool
    seconds: float
    notebook: Path
    error: str = ""
    exports: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Choosing notebooks
# ---------------------------------------------------------------------------------------------


def discover_notebooks(folder: Path | None = None) -> list[Path]:
    """Every ``*.ipynb`` in ``notebooks/``, in name order."""
    folder = folder or notebooks_dir()
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def select_notebooks(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """The notebooks named in ``only`` (a full name, or a unique prefix such as ``06``)."""
    if not only:
        return notebooks
    chosen = []
    for wanted in only:
        matches = [p for p in notebooks if p.stem == wanted] or [p for p in notebooks if p.stem.startswith(wanted)]
        if len(matches) != 1:
            problem = "matches several notebooks" if matches else "is not a notebook"
            raise ConfigError(f"{wanted!r} {problem}; valid names: {', '.join(p.stem for p in notebooks)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


# ---------------------------------------------------------------------------------------------
# Running one notebook
# ---------------------------------------------------------------------------------------------


def ensure_kernel() -> str:
    """Register a Jupyter kernel running this very Python (the project's venv) and return its name."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="Python (hwutils)", prefix=sys.prefix)
    return KERNEL_NAME


def execute_notebook(notebook: Path, output_dir: Path, profile: str, seed: int | None = None,
                     overrides: dict[str, Any] | None = None, threads: int | None = None) -> Outcome:
    """Execute ``notebook`` into ``output_dir/<name>.ipynb`` with papermill; never raises for a
    failing cell (the outcome says where it failed)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config

    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("results.json", OUTCOME_FILE):  # a stale result must not pass for this run's
        (output_dir / stale).unlink(missing_ok=True)
    executed = output_dir / notebook.name
    parameters: dict[str, Any] = {"PROFILE": profile, "OUTPUT_DIR": str(output_dir)}
    if seed is not None:
        parameters["SEED"] = seed
    if overrides:
        parameters["OVERRIDES"] = overrides
    os.environ[HEADLESS_ENV] = "1"
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    error = ""
    # The kernel is local: talk to it over Unix sockets instead of unencrypted TCP ports, in a folder
    # of its own (parallel notebooks would otherwise race for the same socket names).
    with tempfile.TemporaryDirectory(prefix="hwutils-kernel-") as sockets:
        kernel_config = Config()
        kernel_config.KernelManager.transport = "ipc"
        kernel_config.KernelManager.ip = str(Path(sockets) / "kernel")
        try:
            papermill.execute_notebook(str(notebook), str(executed), parameters=parameters,
                                       kernel_name=ensure_kernel(), cwd=str(notebook.parent), progress_bar=False,
                                       config=kernel_config, start_timeout=KERNEL_START_TIMEOUT_S)
        except PapermillExecutionError as failure:
            first_line = next((line.strip() for line in failure.source.splitlines() if line.strip()), "")
            error = f"cell In[{failure.exec_count}] `{first_line[:60]}` raised {failure.ename}: {failure.evalue}"
        except Exception as failure:  # a dead kernel, a missing kernel, a broken notebook file
            error = f"{type(failure).__name__}: {failure}"
    return Outcome(notebook.stem, not error, time.perf_counter() - start, executed, error)


# ---------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------


def _run_one(notebook: Path, reports: Path, profile: str, seed: int | None, overrides: dict | None,
             threads: int | None, pdf_with: str | None) -> Outcome:
    outcome = execute_notebook(notebook, reports / notebook.stem, profile, seed, overrides, threads)
    if outcome.notebook.exists():
        try:
            outcome.exports.append(export_html(outcome.notebook))
            if pdf_with:
                outcome.exports.append(export_pdf(outcome.exports[-1], pdf_with))
        except Exception as failure:  # an export problem must not hide the notebook's own outcome
            outcome.exports.append(Path(f"(export failed: {type(failure).__name__}: {failure})"))
    return outcome


def default_threads(profile: str, jobs: int) -> int:
    """CPU threads per notebook kernel. Smoke models are tiny: one thread is about as fast as two,
    gives the same floating-point sums on every machine, and does not collapse when the cores are
    shared (two busy kernels with two OpenMP threads each ran 5-10 times slower here). The full
    profile shares the cores between the parallel jobs."""
    return 1 if profile == "smoke" else max(1, (os.cpu_count() or 1) // jobs)


def distribute_overrides(notebooks: list[Path], profile: str, overrides: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``--set`` values per notebook: each key goes to the selected notebooks whose settings define it.

    A key that none of them defines fails with one line naming the valid settings; what each key
    applies to is printed, so a grader sees where a value took effect.
    """
    per_notebook: dict[str, dict[str, Any]] = {nb.stem: {} for nb in notebooks}
    if not overrides:
        return per_notebook
    known = {nb.stem: set(profile_table(nb.stem)[profile]) if nb.stem in available_notebooks() else set()
             for nb in notebooks}
    for key, value in overrides.items():
        takers = [name for name, names in known.items() if key in names]
        if not takers:
            valid = sorted(set().union(*known.values()))
            raise ConfigError(f"--set {key}: no selected notebook has a setting {key!r} "
                              f"({', '.join(known)}); valid settings: {', '.join(valid)}")
        for name in takers:
            per_notebook[name][key] = value
        skipped = [name for name in known if name not in takers]
        print(f"--set {key}={value!r} applies to {', '.join(takers)}"
              + (f" (not a setting of {', '.join(skipped)})" if skipped else ""), flush=True)
    return per_notebook


def run_batch(profile: str = "smoke", only: list[str] | None = None, jobs: int = 1, pdf: bool = False,
              reports: Path | None = None, seed: int | None = None, overrides: dict | None = None,
              folder: Path | None = None, threads: int | None = None) -> int:
    """Run the selected notebooks of ``folder`` (default ``notebooks/``); print where everything
    is; return 0, or 1 if any notebook failed."""
    notebooks = select_notebooks(discover_notebooks(folder), only)
    per_notebook = distribute_overrides(notebooks, profile, overrides)
    reports = Path(reports or reports_dir()).resolve()
    reports.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium() if pdf else None
    if pdf and chromium is None:
        print(f"note: {CHROMIUM_HELP}")
    ensure_kernel()
    jobs = max(1, min(jobs, len(notebooks)))
    threads = threads or default_threads(profile, jobs)
    print(f"Running {len(notebooks)} notebook(s), profile {profile!r}, {jobs} at a time with {threads} CPU thread(s) "
          f"each, into {reports}", flush=True)
    arguments = [(nb, reports, profile, seed, per_notebook[nb.stem] or None, threads, chromium) for nb in notebooks]
    if jobs == 1:
        outcomes = [_report(_run_one(*args)) for args in arguments]
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_one, *args) for args in arguments]
            outcomes = [_report(f.result()) for f in futures]
    failures = {o.name: o.error for o in outcomes if not o.ok}
    summary = build_summary(reports)
    print(f"Summary: {summary} (and {summary.with_suffix('.html')})")
    for name, error in failures.items():
        print(f"FAILED {name}: {error}")
    return 1 if failures else 0


def _report(outcome: Outcome) -> Outcome:
    write_outcome(outcome.notebook.parent, outcome.ok, outcome.seconds, outcome.error)
    status = "ok" if outcome.ok else "FAILED"
    print(f"[{status}] {outcome.name} in {outcome.seconds:.1f} s -> {outcome.notebook}", flush=True)
    for path in outcome.exports:
        print(f"        {path}", flush=True)
    return outcome
