"""A university cluster through Slurm: one notebook per task of a job array, one GPU each.

``hwutils run --slurm`` writes ``<reports>/slurm/hwutils.sbatch`` and ``tasks.json`` (what each array
task runs) instead of running anything, and prints the ``sbatch`` command. Each task runs the same
worker as a local batch (:mod:`hwutils.batch.worker`) on the GPU Slurm gives it, into the same report
layout, with a log per task in ``<reports>/slurm/``. When the tasks have finished,
``hwutils summary <reports>`` builds the summary from whatever ``results.json`` files are there.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from hwutils.batch.runner import (SMOKE_CELL_TIMEOUT_S, default_threads, discover_notebooks, distribute_overrides,
                                  ensure_kernel, folder_labels, select_notebooks)
from hwutils.core.paths import PROJECT_ROOT, notebooks_dir, reports_dir

SCRIPT_NAME = "hwutils.sbatch"
TASKS_NAME = "tasks.json"


def task_specs(profile: str, only: list[str] | None, folders: list[Path] | None, reports: Path, seed: int | None,
               overrides: dict[str, Any] | None, cell_timeout: float | None, pdf: bool,
               pdf_no_code: bool = False) -> list[dict[str, Any]]:
    """The worker job of every notebook, as the local batch would run it (one thread per smoke task)."""
    folders = [Path(f).resolve() for f in (folders or [notebooks_dir()])]
    labels = folder_labels(folders)
    timeout = cell_timeout if cell_timeout is not None else (SMOKE_CELL_TIMEOUT_S if profile == "smoke" else None)
    specs = []
    for folder in folders:
        notebooks = select_notebooks(discover_notebooks(folder), only)
        per_notebook = distribute_overrides(notebooks, profile, overrides)
        base = reports if len(folders) == 1 else reports / labels[folder]
        for notebook in notebooks:
            specs.append({"notebook": str(notebook), "output_dir": str(base / notebook.stem), "profile": profile,
                          "seed": seed, "overrides": per_notebook[notebook.stem] or None,
                          "threads": default_threads(profile, 1) if profile == "smoke" else None,
                          "cell_timeout": timeout or None, "pdf_with": "chromium" if pdf else None,
                          "pdf_no_code": pdf_no_code})
    return specs


def write_array_script(profile: str = "full", only: list[str] | None = None, folders: list[Path] | None = None,
                       reports: Path | None = None, seed: int | None = None, overrides: dict[str, Any] | None = None,
                       partition: str | None = None, gpus_per_task: int = 1, time_limit: str = "02:00:00",
                       cell_timeout: float | None = None, pdf: bool = False, pdf_no_code: bool = False) -> Path:
    """Write the sbatch job-array script and its task list; return the script's path."""
    reports = Path(reports or reports_dir()).resolve()
    specs = task_specs(profile, only, folders, reports, seed, overrides, cell_timeout, pdf, pdf_no_code)
    ensure_kernel()  # registered once here: array tasks starting together would race to register it
    folder = reports / "slurm"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TASKS_NAME).write_text(json.dumps(specs, indent=2) + "\n")
    options = [f"--job-name=hwutils-{profile}", f"--array=0-{len(specs) - 1}", f"--output={folder}/%A_%a.log",
               f"--time={time_limit}", "--ntasks=1", f"--cpus-per-task={1 if profile == 'smoke' else 4}"]
    if partition:
        options.append(f"--partition={partition}")
    if gpus_per_task:
        options.append(f"--gres=gpu:{gpus_per_task}")  # Slurm sets CUDA_VISIBLE_DEVICES to the task's GPUs
    names = "\n".join(f"#   {i}: {Path(s['notebook']).stem} -> {s['output_dir']}" for i, s in enumerate(specs))
    script = "\n".join([
        "#!/bin/bash",
        f"# Written by `hwutils run --slurm`: {len(specs)} notebook(s), one per array task, profile {profile}.",
        "# Submit with `sbatch " + SCRIPT_NAME + "`; afterwards `hwutils summary " + shlex.quote(str(reports)) + "`.",
        *[f"#SBATCH {option}" for option in options],
        "# Tasks:", names,
        "set -euo pipefail",
        f"cd {shlex.quote(str(PROJECT_ROOT))}",
        f"exec {shlex.quote(sys.executable)} -m hwutils.batch.worker --tasks {shlex.quote(str(folder / TASKS_NAME))} "
        "--task \"${SLURM_ARRAY_TASK_ID:?run this script with sbatch, or set SLURM_ARRAY_TASK_ID}\"",
        "",
    ])
    path = folder / SCRIPT_NAME
    path.write_text(script)
    path.chmod(0o755)
    return path
