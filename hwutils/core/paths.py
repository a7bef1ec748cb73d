"""Where the project keeps things: the checkout, fixtures, reports.

Inside a checkout of the project (``pyproject.toml`` beside the package), fixtures go to
``data/fixtures/`` and reports to ``reports/``. When hwutils is installed on its own (a notebook
opened alone on Colab or Kaggle), fixtures go to a cache folder and reports to ``reports/`` in the
working folder. ``HWUTILS_FIXTURES_DIR`` and ``HWUTILS_REPORTS_DIR`` override both.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def in_checkout() -> bool:
    """True when hwutils runs from a checkout of the project (not from an installed copy)."""
    pyproject = PROJECT_ROOT / "pyproject.toml"
    return pyproject.exists() and 'name = "hwutils"' in pyproject.read_text()


def fixtures_dir() -> Path:
    """Folder of the built fixtures: ``data/fixtures`` in a checkout, else ``~/.cache/hwutils/fixtures``."""
    if os.environ.get("HWUTILS_FIXTURES_DIR"):
        return Path(os.environ["HWUTILS_FIXTURES_DIR"])
    if in_checkout():
        return PROJECT_ROOT / "data" / "fixtures"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "hwutils" / "fixtures"


def notebooks_dir() -> Path:
    return PROJECT_ROOT / "notebooks"


def reports_dir() -> Path:
    """Folder of the reports: ``reports/`` of the checkout, else ``reports/`` in the working folder."""
    if os.environ.get("HWUTILS_REPORTS_DIR"):
        return Path(os.environ["HWUTILS_REPORTS_DIR"])
    return PROJECT_ROOT / "reports" if in_checkout() else Path.cwd() / "reports"


def default_output_dir(notebook: str) -> Path:
    """Where a notebook writes when its ``OUTPUT_DIR`` parameter is left empty: ``reports/<notebook>``."""
    return reports_dir() / notebook
