"""Progress bars: live widgets in JupyterLab, a few plain text lines in headless batch runs.

The batch runner sets ``HWUTILS_HEADLESS=1``: widget bars would leave nothing readable in the
exported HTML/PDF, so there a text bar writes rarely and always its final state.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

HEADLESS_ENV = "HWUTILS_HEADLESS"


def headless() -> bool:
    return os.environ.get(HEADLESS_ENV) == "1"


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """``tqdm.auto.tqdm`` in a live session; when headless, a text ``tqdm`` that appears only for
    steps longer than 2 s and then updates every 15 s."""
    if headless():
        from tqdm import tqdm

        kwargs.setdefault("mininterval", 15.0)
        kwargs.setdefault("delay", 2.0)  # a step that takes under 2 s leaves no bar in the report
        kwargs.setdefault("ascii", True)
        return tqdm(iterable, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)
