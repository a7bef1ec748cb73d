"""Where the project keeps things: the checkout root, fixtures, reports."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def fixtures_dir() -> Path:
    """Folder of the built fixtures (``HWUTILS_FIXTURES_DIR`` overrides ``data/fixtures``)."""
    return Path(os.environ.get("HWUTILS_FIXTURES_DIR", PROJECT_ROOT / "data" / "fixtures"))


def notebooks_dir() -> Path:
    return PROJECT_ROOT / "notebooks"


def reports_dir() -> Path:
    return PROJECT_ROOT / "reports"
