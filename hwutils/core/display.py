"""What a notebook shows: markdown rendered from computed values, tables, source code.

Prose in the notebooks is built from the run's own numbers and displayed with :func:`show_markdown`;
tables go through :func:`markdown_table`, so every number is formatted the same way everywhere.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def format_value(value: Any, digits: int = 4) -> str:
    """Integers with thousands separators, floats with ``digits`` significant digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"
    return str(value)


def plain(value: Any) -> Any:
    """NumPy and torch scalars and arrays as plain Python, for JSON and tables."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def markdown_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, columns: Sequence[str] | None = None,
                   digits: int = 4) -> str:
    """A markdown table of ``rows`` (dicts or a DataFrame), numbers formatted by :func:`format_value`."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if columns is not None:
        frame = frame[list(columns)]
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(format_value(plain(v), digits) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def show_markdown(text: str) -> None:
    """Display markdown in a notebook (prints it elsewhere): how computed prose reaches the reader."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None:
            display(Markdown(text))
            return
    except ImportError:
        pass
    print(text)


def show_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, columns: Sequence[str] | None = None,
               digits: int = 4, caption: str = "") -> None:
    """:func:`markdown_table` displayed, with an optional bold caption above it."""
    show_markdown((f"**{caption}**\n\n" if caption else "") + markdown_table(rows, columns, digits))


def show_source(*objects: Any) -> None:
    """Display the source code of functions, classes or modules (how notebooks show hwutils code)."""
    show_markdown("\n\n".join(f"```python\n{inspect.getsource(obj).rstrip()}\n```" for obj in objects))


def percent(value: float, digits: int = 1) -> str:
    """``0.1234`` as ``"12.3%"``."""
    return f"{100 * value:.{digits}f}%"
