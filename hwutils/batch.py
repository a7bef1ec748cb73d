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

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from hwutils.errors import ConfigError
from hwutils.paths import notebooks_dir, reports_dir
from hwutils.profiles import PROFILES
from hwutils.progress import HEADLESS_ENV

KERNEL_NAME = "hwutils"
KERNEL_START_TIMEOUT_S = 300  # papermill's 60 s default was exceeded on a busy 2-core machine
# Long code lines wrap instead of being cut at the page edge when printed to PDF.
PRINT_CSS = "<style>@media print { pre, .jp-InputArea-editor pre { white-space: pre-wrap !important; word-break: break-word; } }</style>"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_HELP = (
    "PDF export needs Chromium, and none was found. On Debian/Ubuntu: `sudo apt-get install chromium`; "
    "elsewhere install Chrome or Chromium and set HWUTILS_CHROMIUM=/path/to/the/browser. "
    "The HTML reports were written all the same."
)


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
    (output_dir / "results.json").unlink(missing_ok=True)  # a stale result must not pass for this run's
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
# Exports
# ---------------------------------------------------------------------------------------------


def export_html(executed: Path) -> Path:
    """The executed notebook as a self-contained HTML page beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html")
    html.write_text(body.replace("</head>", PRINT_CSS + "</head>", 1), encoding="utf-8")
    return html


def find_chromium() -> str | None:
    """``HWUTILS_CHROMIUM`` if set, else the first Chromium or Chrome on the PATH."""
    if os.environ.get("HWUTILS_CHROMIUM"):
        return os.environ["HWUTILS_CHROMIUM"]
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def export_pdf(html: Path, chromium: str) -> Path:
    """Print ``html`` to PDF with headless Chromium (no network, a throwaway profile)."""
    pdf = html.with_suffix(".pdf")
    with tempfile.TemporaryDirectory() as profile_dir:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile_dir}", "--no-pdf-header-footer", "--virtual-time-budget=20000",
                   f"--print-to-pdf={pdf}", html.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if not pdf.exists():
        raise RuntimeError(f"Chromium did not write {pdf.name}: {done.stderr.strip()[-300:]}")
    return pdf


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


def run_batch(profile: str = "smoke", only: list[str] | None = None, jobs: int = 1, pdf: bool = False,
              reports: Path | None = None, seed: int | None = None, overrides: dict | None = None,
              folder: Path | None = None, threads: int | None = None) -> int:
    """Run the selected notebooks of ``folder`` (default ``notebooks/``); print where everything
    is; return 0, or 1 if any notebook failed."""
    notebooks = select_notebooks(discover_notebooks(folder), only)
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
    arguments = [(nb, reports, profile, seed, overrides, threads, chromium) for nb in notebooks]
    if jobs == 1:
        outcomes = [_report(_run_one(*args)) for args in arguments]
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_one, *args) for args in arguments]
            outcomes = [_report(f.result()) for f in futures]
    failures = {o.name: o.error for o in outcomes if not o.ok}
    from hwutils.reporting import build_summary

    summary = build_summary(reports, failures)
    print(f"Summary: {summary} (and {summary.with_suffix('.html')})")
    for name, error in failures.items():
        print(f"FAILED {name}: {error}")
    return 1 if failures else 0


def _report(outcome: Outcome) -> Outcome:
    status = "ok" if outcome.ok else "FAILED"
    print(f"[{status}] {outcome.name} in {outcome.seconds:.1f} s -> {outcome.notebook}", flush=True)
    for path in outcome.exports:
        print(f"        {path}", flush=True)
    return outcome


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string such as a path or a Hub id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hwutils", description="Run and report the PEFT course notebooks.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks with papermill and write reports/")
    run.add_argument("--profile", choices=PROFILES, default="smoke", help="smoke: tiny offline fixtures on CPU; full: real models on GPU")
    run.add_argument("--only", nargs="+", metavar="NAME", help="notebook names or unique prefixes (e.g. 06)")
    run.add_argument("--jobs", type=int, default=1, help="notebooks run in parallel processes")
    run.add_argument("--threads", type=int, help="CPU threads per notebook (default: 1 for smoke, cores/jobs for full)")
    run.add_argument("--pdf", action="store_true", help="also export PDF (needs Chromium)")
    run.add_argument("--seed", type=int, help="SEED parameter for every notebook (default: the notebook's)")
    run.add_argument("--set", dest="overrides", action="append", type=_parse_override, metavar="KEY=VALUE",
                     help="override a setting in every selected notebook (value parsed as JSON if it can be)")
    run.add_argument("--reports", type=Path, help="output folder (default: reports/)")
    commands.add_parser("fixtures", help="build every fixture now")
    commands.add_parser("list", help="list the notebooks")
    args = parser.parse_args(argv)

    try:
        if args.command == "run":
            return run_batch(args.profile, args.only, args.jobs, args.pdf, args.reports, args.seed,
                             dict(args.overrides) if args.overrides else None, threads=args.threads)
        if args.command == "fixtures":
            from hwutils.fixtures import build_all

            for name, seconds in build_all().items():
                print(f"{name:30s} {seconds:6.1f} s")
            return 0
        for notebook in discover_notebooks():
            print(notebook.stem)
        return 0
    except ConfigError as error:
        parser.exit(2, f"hwutils: error: {error}\n")
