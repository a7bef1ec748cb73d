"""The batch runner: notebooks executed headlessly with papermill, one worker process each, exported, summarised.

    hwutils run [--profile smoke|full] [--only NAME ...] [--notebooks DIR ...] [--jobs N] [--gpus 0,1]
                [--threads N] [--cell-timeout S] [--pdf] [--pdf-no-code] [--set KEY=VALUE ...]

Each notebook runs in a worker process of its own (:mod:`hwutils.batch.worker`), with the project's
kernel, its parameters ``PROFILE``, ``SEED``, ``OUTPUT_DIR`` (= ``reports/<name>``) and ``OVERRIDES``,
then is exported to HTML (and PDF on request). What a worker and its kernel print goes to
``reports/<name>/batch.log``, not to the console. With ``--gpus``, each worker sees exactly one GPU
(``CUDA_VISIBLE_DEVICES``) and no two workers share one. A failure, a timed-out cell or a worker
that dies does not stop the others. Ctrl-C (SIGINT) or SIGTERM stops the running notebooks cleanly,
writes the summary (finished, interrupted, not started) and exits 130 or 143.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwutils.batch.export import CHROMIUM_HELP, export_html, export_pdf, find_chromium
from hwutils.batch.stopping import StopRequest, caught_stop_signals
from hwutils.batch.summary import OUTCOME_FILE, build_summary, read_outcome, write_outcome
from hwutils.core.errors import ConfigError
from hwutils.core.paths import notebooks_dir, reports_dir
from hwutils.core.progress import HEADLESS_ENV

KERNEL_NAME = "hwutils"
KERNEL_START_TIMEOUT_S = 300  # papermill's 60 s default was exceeded on a busy 2-core machine
SMOKE_CELL_TIMEOUT_S = 900  # a smoke cell that runs longer has hung (the full profile has no default limit)
LOG_FILE = "batch.log"
EXIT_STATUS = {"ok": 0, "failed": 1, "timed_out": 124, "interrupted": 130}


@dataclass
class Outcome:
    """What happened to one notebook in a batch run."""

    name: str
    status: str  # ok, failed, timed_out, interrupted, died, not_started
    seconds: float
    notebook: Path
    error: str = ""
    exports: list[Path] = field(default_factory=list)
    device: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ---------------------------------------------------------------------------------------------
# Choosing notebooks
# ---------------------------------------------------------------------------------------------


def discover_notebooks(folder: Path | None = None) -> list[Path]:
    """Every ``*.ipynb`` in ``folder`` (default ``notebooks/``), in name order."""
    folder = Path(folder or notebooks_dir())
    if not folder.is_dir():
        raise ConfigError(f"notebook folder {str(folder)!r} does not exist")
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


def distribute_overrides(notebooks: list[Path], profile: str, overrides: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``--set`` values per notebook: each key goes to the selected notebooks whose settings define it.

    A key that none of them defines fails with one line naming the valid settings; what each key
    applies to is printed, so a grader sees where a value took effect.
    """
    per_notebook: dict[str, dict[str, Any]] = {nb.stem: {} for nb in notebooks}
    if not overrides:
        return per_notebook
    from hwutils.core.profiles import available_notebooks, profile_table  # imports torch: only when needed

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


# ---------------------------------------------------------------------------------------------
# Running one notebook (in this process: the worker and the tests call this)
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


def parameters_problem(notebook: Path) -> str:
    """Why ``notebook`` cannot take the batch's parameters (no cell tagged ``parameters``), or ``""``."""
    import nbformat

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception as error:  # not a notebook at all
        return f"{notebook.name} is not a readable notebook ({type(error).__name__}: {error})"
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells if c.cell_type == "code"):
        return (f"{notebook.name} has no code cell tagged 'parameters' (PROFILE, SEED, OUTPUT_DIR, OVERRIDES): "
                "it cannot be run by the batch")
    return ""


def _failed_cell(notebook_path: Path) -> str:
    """The cell a failed, timed-out or interrupted run stopped in, from the saved notebook: the cell
    that raised, else the last cell that started (papermill marks a timed-out or interrupted cell
    completed, but the cells after it never start)."""
    import nbformat

    try:
        cells = nbformat.read(notebook_path, as_version=4).cells
    except Exception:
        return ""
    started = [c for c in cells if c.cell_type == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]
    raised = [c for c in started if c.metadata.papermill.get("exception")]
    cell = (raised or started or [None])[-1]
    if cell is None:
        return ""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"cell In[{cell.get('execution_count') or '?'}] `{first[:60]}`"


def execute_notebook(notebook: Path, output_dir: Path, profile: str, seed: int | None = None,
                     overrides: dict[str, Any] | None = None, threads: int | None = None,
                     cell_timeout: float | None = None) -> Outcome:
    """Execute ``notebook`` into ``output_dir/<name>.ipynb`` with papermill; never raises for a
    failing or timed-out cell (the outcome says where), nor for a missing parameters cell."""
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config

    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("results.json", OUTCOME_FILE):  # a stale result must not pass for this run's
        (output_dir / stale).unlink(missing_ok=True)
    executed = output_dir / notebook.name
    device = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    problem = parameters_problem(notebook)
    if problem:
        return Outcome(notebook.stem, "failed", 0.0, executed, problem, device=device)
    parameters: dict[str, Any] = {"PROFILE": profile, "OUTPUT_DIR": str(output_dir)}
    if seed is not None:
        parameters["SEED"] = seed
    if overrides:
        parameters["OVERRIDES"] = overrides
    os.environ[HEADLESS_ENV] = "1"
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    status, error = "ok", ""
    # The kernel is local: talk to it over Unix sockets instead of unencrypted TCP ports, in a folder
    # of its own (parallel notebooks would otherwise race for the same socket names).
    with tempfile.TemporaryDirectory(prefix="hwutils-kernel-") as sockets:
        kernel_config = Config()
        kernel_config.KernelManager.transport = "ipc"
        kernel_config.KernelManager.ip = str(Path(sockets) / "kernel")
        try:
            papermill.execute_notebook(str(notebook), str(executed), parameters=parameters,
                                       kernel_name=ensure_kernel(), cwd=str(notebook.parent), progress_bar=False,
                                       config=kernel_config, start_timeout=KERNEL_START_TIMEOUT_S,
                                       execution_timeout=cell_timeout)
        except PapermillExecutionError as failure:
            first_line = next((line.strip() for line in failure.source.splitlines() if line.strip()), "")
            status, error = "failed", f"cell In[{failure.exec_count}] `{first_line[:60]}` raised {failure.ename}: {failure.evalue}"
        except CellTimeoutError:
            status = "timed_out"
            error = f"{_failed_cell(executed) or 'a cell'} ran longer than the cell timeout ({cell_timeout:g} s)"
        except KeyboardInterrupt:
            cell = _failed_cell(executed)
            status, error = "interrupted", f"interrupted in {cell}" if cell else "interrupted before its first cell ran"
        except Exception as failure:  # a dead kernel, a missing kernel, a broken notebook file
            status, error = "failed", f"{type(failure).__name__}: {failure}"
    return Outcome(notebook.stem, status, time.perf_counter() - start, executed, error, device=device)


def export(outcome: Outcome, pdf_with: str | None, pdf_no_code: bool = False) -> Outcome:
    """HTML (and PDF, with and without code) of the executed notebook, even a failed one."""
    if not outcome.notebook.exists():
        return outcome
    try:
        outcome.exports.append(export_html(outcome.notebook))
        if pdf_with:
            outcome.exports.append(export_pdf(outcome.exports[-1], pdf_with))
            if pdf_no_code:
                html = export_html(outcome.notebook, include_code=False)
                outcome.exports += [html, export_pdf(html, pdf_with)]
    except Exception as failure:  # an export problem must not hide the notebook's own outcome
        outcome.exports.append(Path(f"(export failed: {type(failure).__name__}: {failure})"))
    return outcome


# ---------------------------------------------------------------------------------------------
# The batch: one worker process per notebook
# ---------------------------------------------------------------------------------------------


def default_threads(profile: str, jobs: int) -> int:
    """CPU threads per notebook kernel. Smoke models are tiny: one thread is about as fast as two,
    gives the same floating-point sums on every machine, and does not collapse when the cores are
    shared (two busy kernels with two OpenMP threads each ran 5-10 times slower here). The full
    profile shares the cores between the parallel jobs."""
    return 1 if profile == "smoke" else max(1, (os.cpu_count() or 1) // jobs)


def visible_gpus() -> list[str]:
    """The GPUs this machine's CUDA sees, as ids for ``CUDA_VISIBLE_DEVICES``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return []


def plan_slots(profile: str, jobs: int | None, gpus: list[str] | None) -> list[str | None]:
    """One slot per parallel job: a GPU id each when there are GPUs (never two jobs on one GPU),
    else ``None``. The full profile defaults to one job per visible GPU."""
    if gpus:
        return list(gpus[: jobs or len(gpus)])
    if profile == "full":
        found = visible_gpus()
        if found:
            return found[: jobs or len(found)]
    return [None] * max(1, jobs or 1)


@dataclass
class Job:
    notebook: Path
    output_dir: Path
    overrides: dict[str, Any]
    submission: str = ""  # the folder's label when several folders run (students' copies)

    @property
    def name(self) -> str:
        """How the console names this job: ``06_nano_transformer``, or ``alice_notebooks/06_nano_transformer``."""
        return f"{self.submission}/{self.notebook.stem}" if self.submission else self.notebook.stem


def _worker_command(job: Job, profile: str, seed: int | None, threads: int, cell_timeout: float | None,
                    pdf_with: str | None, pdf_no_code: bool) -> list[str]:
    spec = {"notebook": str(job.notebook), "output_dir": str(job.output_dir), "profile": profile, "seed": seed,
            "overrides": job.overrides or None, "threads": threads, "cell_timeout": cell_timeout,
            "pdf_with": pdf_with, "pdf_no_code": pdf_no_code}
    return [sys.executable, "-m", "hwutils.batch.worker", json.dumps(spec)]


STOP_GRACE_S = 60  # how long an interrupted worker may take to stop its kernel, save what ran and export it


@dataclass
class _Running:
    job: Job
    slot: str | None
    log: Any
    started: float


def run_jobs(jobs: list[Job], profile: str, slots: list[str | None], seed: int | None = None, threads: int = 1,
             cell_timeout: float | None = None, pdf_with: str | None = None, pdf_no_code: bool = False,
             stop: StopRequest | None = None) -> list[Outcome]:
    """Run ``jobs`` in worker processes, at most one per slot; returns every job's outcome.

    After ``stop`` has caught a signal no job starts, the running workers are asked to stop (SIGINT:
    each stops its kernel and saves the cells that ran), and any still running after
    :data:`STOP_GRACE_S` (or at a second signal) is killed."""
    stop = stop or StopRequest()
    pending, running, outcomes = list(jobs), {}, {}
    free = list(slots)

    def reap(interrupted: bool = False) -> None:
        for process in [p for p in running if p.poll() is not None]:
            entry = running.pop(process)
            entry.log.close()
            free.append(entry.slot)
            outcome = _collect(entry.job, process.returncode, time.perf_counter() - entry.started, entry.slot, interrupted)
            outcomes[entry.job.notebook] = _report(outcome)

    while (pending or running) and stop.signal is None:
        while pending and free:
            job, slot = pending.pop(0), free.pop(0)
            process, log = _start_worker(job, slot, profile, seed, threads, cell_timeout, pdf_with, pdf_no_code)
            running[process] = _Running(job, slot, log, time.perf_counter())
        time.sleep(0.2)
        reap()
    if stop.signal is not None:
        print(f"{signal.Signals(stop.signal).name} received: stopping {len(running)} running notebook(s) "
              f"(they save the cells that ran; a second Ctrl-C kills them now); {len(pending)} not started", flush=True)
        for process in running:
            process.send_signal(signal.SIGINT)  # the worker stops its kernel and saves what ran
        deadline = time.perf_counter() + STOP_GRACE_S
        while running and time.perf_counter() < deadline and stop.count < 2:
            time.sleep(0.2)
            reap(interrupted=True)
        for process in list(running):
            with contextlib.suppress(ProcessLookupError):  # the worker's session (its kernel has its own, and
                os.killpg(process.pid, signal.SIGKILL)     # shuts itself down once its parent is gone)
            process.wait()
        reap(interrupted=True)
        for job in pending:
            outcome = Outcome(job.name, "not_started", 0.0, job.output_dir / job.notebook.name,
                              "the batch was interrupted before it started")
            write_outcome(job.output_dir, outcome.status, 0.0, outcome.error)
            outcomes[job.notebook] = _report(outcome)
    return [outcomes[job.notebook] for job in jobs]


def _start_worker(job: Job, slot: str | None, profile: str, seed: int | None, threads: int, cell_timeout: float | None,
                  pdf_with: str | None, pdf_no_code: bool) -> tuple[subprocess.Popen, Any]:
    """A worker process for ``job``, alone in ``slot``'s GPU; what it prints goes to its batch.log.

    It runs in a session of its own, so a Ctrl-C in the terminal reaches only the batch, which then
    stops the workers in order."""
    job.output_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("results.json", OUTCOME_FILE):
        (job.output_dir / stale).unlink(missing_ok=True)
    env = {**os.environ, HEADLESS_ENV: "1"}
    if slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot
    log = open(job.output_dir / LOG_FILE, "w")
    process = subprocess.Popen(_worker_command(job, profile, seed, threads, cell_timeout, pdf_with, pdf_no_code),
                               env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    print(f"[start] {job.name}" + (f" on GPU {slot}" if slot is not None else ""), flush=True)
    return process, log


def _collect(job: Job, returncode: int, seconds: float, slot: str | None, interrupted: bool = False) -> Outcome:
    """The worker's own outcome.json, or, if it ended before writing one, why: stopped by the batch's
    interrupt, or died (with its signal or exit status)."""
    recorded = read_outcome(job.output_dir)
    executed = job.output_dir / job.notebook.name
    if recorded is not None:
        return Outcome(job.name, recorded["status"], recorded["seconds"], executed, recorded.get("error", ""),
                       [Path(p) for p in recorded.get("exports", [])], recorded.get("device", ""))
    log = job.output_dir / LOG_FILE
    if interrupted:
        status = "interrupted"
        why = ("killed: it had not stopped when the batch was interrupted" if returncode == -signal.SIGKILL
               else "interrupted before its notebook started")
    elif returncode < 0:
        status, name = "died", signal.Signals(-returncode).name
        why = f"the worker died with signal {name}" + (" (often the out-of-memory killer)" if name == "SIGKILL" else "")
        why += f"; see {log}"
    else:
        status, why = "died", f"the worker exited with status {returncode} without a result; see {log}"
    outcome = export(Outcome(job.name, status, seconds, executed, why, device=slot or ""), None)  # the cells saved so far
    write_outcome(job.output_dir, status, seconds, why, device=slot or "", exports=[str(p) for p in outcome.exports])
    return outcome


def folder_labels(folders: list[Path]) -> dict[Path, str]:
    """A report-folder name per notebook folder: its name, or with its parents' names where two
    folders share one (``alice/notebooks`` and ``bob/notebooks`` become ``alice_notebooks``, ...)."""
    labels = {}
    for folder in folders:
        resolved = folder.resolve()
        depth = 1
        while depth < len(resolved.parts) and sum(
                f.resolve().parts[-depth:] == resolved.parts[-depth:] for f in folders) > 1:
            depth += 1
        labels[folder] = "_".join(resolved.parts[-depth:])
    return labels


def run_batch(profile: str = "smoke", only: list[str] | None = None, jobs: int | None = None, pdf: bool = False,
              reports: Path | None = None, seed: int | None = None, overrides: dict | None = None,
              folders: list[Path] | None = None, threads: int | None = None, gpus: list[str] | None = None,
              cell_timeout: float | None = None, pdf_no_code: bool = False, stop: StopRequest | None = None) -> int:
    """Run the selected notebooks of ``folders`` (default ``notebooks/``); print where everything is;
    return 0, 1 if any notebook failed, or 130/143 after SIGINT/SIGTERM (the summary is written).
    ``stop``: a :class:`StopRequest` already catching the signals (else they are caught here)."""
    folders = [Path(f) for f in (folders or [notebooks_dir()])]
    reports = Path(reports or reports_dir()).resolve()
    by_folder = {folder: select_notebooks(discover_notebooks(folder), only) for folder in folders}
    labels = folder_labels(folders)
    job_list = []
    for folder, notebooks in by_folder.items():
        per_notebook = distribute_overrides(notebooks, profile, overrides)
        base = reports if len(folders) == 1 else reports / labels[folder]
        submission = labels[folder] if len(folders) > 1 else ""
        job_list += [Job(nb, base / nb.stem, per_notebook[nb.stem], submission) for nb in notebooks]
    reports.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium() if pdf else None
    if pdf and chromium is None:
        print(f"note: {CHROMIUM_HELP}")
    ensure_kernel()
    slots = plan_slots(profile, jobs, gpus)[: max(1, len(job_list))]
    on_gpus = [s for s in slots if s is not None]
    if on_gpus and jobs and jobs > len(on_gpus) and len(job_list) > len(on_gpus):
        print(f"note: --jobs {jobs} with {len(on_gpus)} GPU(s): {len(on_gpus)} at a time, never two notebooks on one GPU")
    threads = threads or default_threads(profile, len(slots))
    cell_timeout = cell_timeout if cell_timeout is not None else (SMOKE_CELL_TIMEOUT_S if profile == "smoke" else None)
    cell_timeout = cell_timeout or None  # 0 turns the limit off
    print(f"Running {len(job_list)} notebook(s), profile {profile!r}, {len(slots)} at a time"
          + (f" on GPUs {', '.join(s for s in slots if s is not None)}" if any(s is not None for s in slots) else "")
          + f", {threads} CPU thread(s) each, into {reports}", flush=True)
    if stop is None:
        with caught_stop_signals(StopRequest()) as stop:
            outcomes = run_jobs(job_list, profile, slots, seed, threads, cell_timeout, chromium, pdf_no_code, stop)
    else:  # the caller caught the signals already (the command line does, before it imports this module)
        outcomes = run_jobs(job_list, profile, slots, seed, threads, cell_timeout, chromium, pdf_no_code, stop)
    summary_dirs = sorted({job.output_dir.parent for job in job_list})
    for folder in summary_dirs:
        summary = build_summary(folder)
        print(f"Summary: {summary} (and {summary.with_suffix('.html')})")
    for outcome in outcomes:
        if not outcome.ok:
            print(f"{outcome.status.upper().replace('_', ' ')} {outcome.name}: {outcome.error}")
    if stop.exit_status is not None:
        return stop.exit_status
    return 0 if all(o.ok for o in outcomes) else 1


def _report(outcome: Outcome) -> Outcome:
    label = {"ok": "ok", "failed": "FAILED", "timed_out": "TIMED OUT", "interrupted": "INTERRUPTED", "died": "DIED",
             "not_started": "NOT STARTED"}[outcome.status]
    where = f" on GPU {outcome.device}" if outcome.device else ""
    print(f"[{label}] {outcome.name}{where} in {outcome.seconds:.1f} s -> {outcome.notebook}", flush=True)
    for path in outcome.exports:
        print(f"        {path}", flush=True)
    return outcome


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """An outcome as written to ``outcome.json``."""
    record = asdict(outcome)
    record["notebook"], record["exports"] = str(outcome.notebook), [str(p) for p in outcome.exports]
    return record
