"""Tiny throwaway notebooks and the ``hwutils`` command in a subprocess, for the batch tests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nbformat

PARAMETERS = 'PROFILE = "full"\nSEED = 0\nOUTPUT_DIR = "out"\nOVERRIDES = {}'
CLI_TIMEOUT_S = 600  # a hung batch fails the test instead of hanging the suite (not a speed limit)


def write_notebook(folder: Path, name: str, *sources: str, parameters: bool = True) -> Path:
    """``folder/name.ipynb``: the parameters cell (unless ``parameters=False``), then one code cell per source."""
    cells = [nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})] if parameters else []
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def hwutils_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hwutils", *map(str, args)]


def run_cli(*args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
    """``hwutils ARGS`` in a subprocess, its console captured."""
    return subprocess.run(hwutils_command(*args), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = CLI_TIMEOUT_S) -> None:
    """Until ``path`` exists (a notebook cell wrote it); fails if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the batch ended (status {process.returncode}) before {path} appeared:\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.1)


def cell_outputs(notebook: Path) -> str:
    """Every text output of an executed notebook, joined."""
    cells = nbformat.read(notebook, as_version=4).cells
    return "\n".join(output.get("text", "") for cell in cells if cell.cell_type == "code" for output in cell.get("outputs", []))
