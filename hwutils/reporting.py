"""Tables rendered from computed values, the ``results.json`` contract, and the batch summary.

Every notebook ends with :func:`write_results`; the summary of a batch run is built from those
files only, so no number in a report is ever typed by hand.

``results.json`` holds: notebook, profile, seed, device, versions, settings, and ``methods``:
``{name: {"metrics": {...}, "trainable_parameters", "total_parameters", "train": {...}, ...}}``.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from hwutils.training import RunStats

RESULTS_FILE = "results.json"
VERSIONED_PACKAGES = ("torch", "transformers", "datasets", "peft", "adapters", "opendelta", "open_clip_torch",
                      "bitsandbytes", "trl", "accelerate", "scikit-learn", "hwutils")


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


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


def markdown_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, columns: Sequence[str] | None = None,
                   digits: int = 4) -> str:
    """A markdown table of ``rows`` (dicts or a DataFrame), numbers formatted by :func:`format_value`."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if columns is not None:
        frame = frame[list(columns)]
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(format_value(_plain(v), digits) for v in row) + " |" for row in frame.itertuples(index=False)]
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
    import inspect

    show_markdown("\n\n".join(f"```python\n{inspect.getsource(obj).rstrip()}\n```" for obj in objects))


def percent(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}%"


# ---------------------------------------------------------------------------------------------
# results.json
# ---------------------------------------------------------------------------------------------


def method_record(metrics: Mapping[str, float], *, trainable_parameters: int | None = None,
                  total_parameters: int | None = None, stats: RunStats | None = None, **extra: Any) -> dict[str, Any]:
    """One method's entry in ``results.json``: metrics, parameter counts, training cost, extras."""
    record: dict[str, Any] = {"metrics": dict(metrics)}
    if trainable_parameters is not None:
        record["trainable_parameters"] = int(trainable_parameters)
    if total_parameters is not None:
        record["total_parameters"] = int(total_parameters)
        if trainable_parameters is not None and total_parameters:
            record["trainable_share"] = trainable_parameters / total_parameters
    if stats is not None:
        record["train"] = stats.as_dict()
    record.update(extra)
    return record


def environment_info() -> dict[str, Any]:
    """Python, package versions and the device, recorded with every result."""
    import torch

    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"
    return {"versions": versions, "device": device}


def write_results(output_dir: str | Path, *, notebook: str, profile: str, seed: int,
                  methods: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any] | None = None,
                  **extra: Any) -> Path:
    """Write ``output_dir/results.json`` (the results contract) and return its path."""
    path = Path(output_dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "notebook": notebook,
        "profile": profile,
        "seed": seed,
        **environment_info(),
        "settings": dict(settings or {}),
        "methods": {name: dict(record) for name, record in methods.items()},
        **extra,
    }
    path.write_text(json.dumps(_plain(document), indent=2, sort_keys=False) + "\n")
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    return json.loads((path / RESULTS_FILE if path.is_dir() else path).read_text())


def _plain(value: Any) -> Any:
    """NumPy and torch scalars and arrays as plain Python, for JSON and tables."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------
# The cross-notebook summary
# ---------------------------------------------------------------------------------------------


def summary_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per method of one ``results.json``: its metrics, parameters and training cost."""
    rows = []
    for name, record in results.get("methods", {}).items():
        train = record.get("train", {})
        rows.append({
            "method": name,
            "metrics": ", ".join(f"{k}={format_value(v)}" for k, v in record.get("metrics", {}).items()),
            "trainable params": record.get("trainable_parameters"),
            "share": percent(record["trainable_share"], 3) if "trainable_share" in record else "",
            "train time (s)": train.get("wall_time_s"),
            "samples/s": train.get("samples_per_s"),
            "peak mem (MB)": train.get("peak_memory_mb"),
        })
    return rows


def build_summary(reports: str | Path, failures: Mapping[str, str] | None = None) -> Path:
    """Write ``summary.md`` and ``summary.html`` in ``reports`` from every ``*/results.json`` there."""
    import mistune

    reports = Path(reports)
    failures = dict(failures or {})
    lines = ["# Results summary", ""]
    for results_path in sorted(reports.glob(f"*/{RESULTS_FILE}")):
        results = read_results(results_path)
        name = results["notebook"]
        if name in failures:
            continue  # a stale results.json from an earlier run must not pass for this run's
        lines += [f"## {name}", "",
                  f"profile `{results['profile']}`, seed {results['seed']}, device {results['device']}", ""]
        rows = summary_rows(results)
        lines += [markdown_table(rows) if rows else "_no methods recorded_", ""]
    if failures:
        lines += ["## Failed notebooks", ""] + [f"- **{name}**: {why}" for name, why in sorted(failures.items())] + [""]
    markdown = "\n".join(lines)
    (reports / "summary.md").write_text(markdown)
    html = mistune.create_markdown(plugins=["table"])(markdown)
    (reports / "summary.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>Results summary</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em}</style>\n" + html
    )
    return reports / "summary.md"
