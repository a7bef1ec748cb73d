"""The one set-up cell every notebook opens with, generated so that the notebooks never drift.

The cell is harmless everywhere: where hwutils imports (a checkout after ``make setup``, a conda
environment) it installs nothing; on Colab or Kaggle it installs the project from the repository
named in ``pyproject.toml`` (``[project.urls] Repository``; ``HWUTILS_SOURCE`` overrides it with a
fork, a local checkout or a wheel): hwutils alone first, then its dependencies with the platform's
torch and every package the kernel has imported held as they are
(:func:`hwutils.core.platform.install_dependencies`), then opendelta without its dependencies; it
says what changed and whether a restart is needed, and brings Kaggle's Hub token secret into the
environment.

``hwutils setup-cell`` prints the cell; ``hwutils setup-cell --write`` puts it first in every
notebook of ``notebooks/`` (tagged ``setup``), replacing an older one.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path

import nbformat

from hwutils.core.paths import PROJECT_ROOT, notebooks_dir

SETUP_TAG = "setup"
TEMPLATE = '''\
# Set-up: on Colab, Kaggle or any fresh Python this installs the course's helpers (hwutils) once;
# where they are installed already (`make setup`, conda) it does nothing. Never put a token here.
import importlib, importlib.util, os, subprocess, sys
if importlib.util.find_spec("hwutils") is None:
    from importlib import metadata
    before = {{(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}}
    source = os.environ.get("HWUTILS_SOURCE", "git+{repository}")
    # hwutils alone first; it then installs its dependencies, keeping this platform's torch and
    # every package the kernel has already imported as they are (so no restart is needed)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    source if os.path.exists(source) else f"hwutils @ {{source}}"], check=True)
    importlib.invalidate_caches()
    from hwutils.core.platform import install_dependencies
    install_dependencies(before, opendelta="{opendelta}")  # opendelta with --no-deps: its own no longer install
from hwutils.core.platform import prepare_platform
print(prepare_platform())'''


def repository_url(root: Path = PROJECT_ROOT) -> str:
    """The repository's address, from ``pyproject.toml`` (the one place it is written)."""
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def opendelta_pin(root: Path = PROJECT_ROOT) -> str:
    """``opendelta==<version>`` as the lock has it."""
    match = re.search(r"^opendelta==\S+", (root / "requirements.lock").read_text(), re.M)
    if not match:
        raise ValueError("requirements.lock has no opendelta pin")
    return match.group(0)


def setup_cell_source(root: Path = PROJECT_ROOT) -> str:
    """The set-up cell's source, filled from pyproject.toml and the lock."""
    return TEMPLATE.format(repository=repository_url(root), opendelta=opendelta_pin(root))


def has_current_setup_cell(path: Path, root: Path = PROJECT_ROOT) -> bool:
    """True when the notebook's first code cell is tagged ``setup`` and is the generated cell."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return bool(cells) and SETUP_TAG in cells[0].metadata.get("tags", []) and cells[0].source == setup_cell_source(root)


def write_setup_cell(path: Path, root: Path = PROJECT_ROOT) -> bool:
    """Put the current set-up cell first among the code cells of ``path`` (replacing an older one,
    keeping any markdown title above it); returns whether the file changed."""
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    old = [i for i, c in enumerate(cells) if c.cell_type == "code" and SETUP_TAG in c.metadata.get("tags", [])]
    source = setup_cell_source(root)
    if old and cells[old[0]].source == source and old[0] == next(i for i, c in enumerate(cells) if c.cell_type == "code"):
        return False
    cell_id = cells[old[0]].get("id") if old else None  # kept, so a rewrite changes only the source
    for index in reversed(old):
        del cells[index]
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [SETUP_TAG]}, id=cell_id or uuid.uuid4().hex[:8])
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, cell)
    nbformat.write(notebook, path)
    return True


def write_all(folder: Path | None = None) -> list[Path]:
    """Rewrite the set-up cell of every notebook in ``folder`` (default ``notebooks/``); the changed ones."""
    return [path for path in sorted((folder or notebooks_dir()).glob("*.ipynb")) if write_setup_cell(path)]


def notebook_links(notebooks: list[str], root: Path = PROJECT_ROOT, branch: str = "main") -> str:
    """The README's "open in Colab / Kaggle" table, built from the repository address in pyproject.toml."""
    url = repository_url(root).removesuffix(".git")
    github_path = url.split("github.com/", 1)[1]
    rows = ["| notebook | Colab | Kaggle |", "|---|---|---|"]
    for name in notebooks:
        blob = f"{github_path}/blob/{branch}/notebooks/{name}.ipynb"
        rows.append(f"| `{name}` | [open in Colab](https://colab.research.google.com/github/{blob}) | "
                    f"[open in Kaggle](https://kaggle.com/kernels/welcome?src=https://github.com/{blob}) |")
    return "\n".join(rows)
