"""The grader's summary of a reports folder, built from files only (no number typed by hand).

``reports/summary.md`` and ``summary.html`` lead with one row per notebook (status, time, headline
metric, failed checks, links to its HTML/PDF), then give one table per notebook with one column per
metric, and a figure of each method's headline metric against its trainable parameters. They read
``<name>/results.json`` (the results contract) and ``<name>/outcome.json`` (what the batch saw:
status, seconds, the failing cell), so ``hwutils summary DIR`` rebuilds them at any time.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwutils.core.display import format_value, markdown_table, percent

OUTCOME_FILE = "outcome.json"
FIGURE_FILE = "summary_accuracy_vs_parameters.png"


STATUSES = ("ok", "failed", "timed_out", "interrupted", "died", "not_started")


def write_outcome(folder: Path, status: str, seconds: float, error: str = "", device: str = "",
                  exports: list[str] | None = None) -> Path:
    """What the batch saw of one notebook (one of :data:`STATUSES`), beside its results."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
    path = Path(folder) / OUTCOME_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "ok": status == "ok", "seconds": round(seconds, 1), "error": error, "device": device,
              "exports": exports or []}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_outcome(folder: Path) -> dict[str, Any] | None:
    """``outcome.json`` of a notebook's report folder, or None."""
    path = Path(folder) / OUTCOME_FILE
    return json.loads(path.read_text()) if path.exists() else None


def notebook_rows(reports: Path) -> list[dict[str, Any]]:
    """One entry per notebook folder of ``reports``: its results (if any) and outcome (if any)."""
    from hwutils.core.results import RESULTS_FILE, read_results  # imports torch: not before it is needed

    entries = []
    for folder in sorted(p for p in Path(reports).iterdir() if p.is_dir()):
        results_path, outcome_path = folder / RESULTS_FILE, folder / OUTCOME_FILE
        if not results_path.exists() and not outcome_path.exists():
            continue
        results = read_results(results_path) if results_path.exists() else None
        outcome = read_outcome(folder)
        entries.append({"name": folder.name, "folder": folder, "results": results, "outcome": outcome})
    return entries


def overview_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Status, time, headline, failed checks and report links of one notebook."""
    results, outcome, folder = entry["results"], entry["outcome"], entry["folder"]
    if outcome is not None:
        status = outcome.get("status", "ok" if outcome.get("ok") else "failed")
        status = "ok" if status == "ok" else status.upper().replace("_", " ")
    else:
        status = "results only"
    headline = (results or {}).get("headline") or {}
    value = headline.get("value")
    failed = [name for name, check in (results or {}).get("checks", {}).items() if not check.get("passed")]
    links = " · ".join(f"[{p.suffix[1:]}]({folder.name}/{p.name})" for p in sorted(folder.glob("*.html")) + sorted(folder.glob("*.pdf"))
                       if not p.name.startswith("summary"))
    return {
        "notebook": entry["name"],
        "status": status,
        "time (s)": outcome["seconds"] if outcome and outcome.get("status") != "not_started" else "",
        "profile": (results or {}).get("profile", ""),
        "headline": f"{headline.get('method')}.{headline.get('metric')}" if headline.get("method") else "",
        "value": "" if value is None else _as_share(headline.get("metric", ""), value),
        "methods": len(results.get("methods", {})) if results else "",
        "failed checks": ", ".join(failed) if failed else ("none" if results else ""),
        "report": links,
    }


def metric_table(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per method, one column per metric, then parameters and training cost."""
    methods = results.get("methods", {})
    metric_names: list[str] = []
    for record in methods.values():
        metric_names += [m for m in record.get("metrics", {}) if m not in metric_names]
    rows = []
    for name, record in methods.items():
        train = record.get("train", {})
        row: dict[str, Any] = {"method": name}
        row.update({metric: record.get("metrics", {}).get(metric) for metric in metric_names})
        row["trainable params"] = record.get("trainable_parameters")
        row["share"] = percent(record["trainable_share"], 3) if "trainable_share" in record else ""
        row["train time (s)"] = train.get("wall_time_s")
        row["peak mem (MB)"] = train.get("peak_memory_mb")
        row["resumed from"] = record.get("resumed_from_step")
        rows.append({k: ("" if v is None else v) for k, v in row.items()})
    return rows


def accuracy_figure(entries: list[Mapping[str, Any]], path: Path) -> Path | None:
    """Each method's headline metric against its trainable parameters, one colour per notebook
    (only notebooks whose headline is a score between 0 and 1, such as an accuracy, and whose
    methods record trainable parameters)."""
    points: dict[str, list[tuple[int, float, str]]] = {}
    for entry in entries:
        results = entry["results"] or {}
        metric = (results.get("headline") or {}).get("metric")
        if not metric or not _is_score(metric):
            continue
        for method, record in results.get("methods", {}).items():
            value, trainable = record.get("metrics", {}).get(metric), record.get("trainable_parameters")
            if metric and value is not None and trainable:
                points.setdefault(entry["name"], []).append((trainable, value, method))
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, rows in points.items():
        ax.scatter([r[0] for r in rows], [r[1] for r in rows], label=name, s=36)
        for trainable, value, method in rows:
            ax.annotate(method, (trainable, value), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set(xlabel="trainable parameters (log scale)", ylabel="headline metric of the notebook",
           title="Headline metric against trainable parameters, per method")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def build_summary(reports: str | Path, failures: Mapping[str, str] | None = None,
                  seconds: Mapping[str, float] | None = None) -> Path:
    """Write ``summary.md`` and ``summary.html`` in ``reports``; ``failures``/``seconds`` from a
    batch that just ran are saved as each notebook's outcome first."""
    reports = Path(reports)
    reports.mkdir(parents=True, exist_ok=True)
    for name, took in (seconds or {}).items():
        failed = name in (failures or {})
        write_outcome(reports / name, "failed" if failed else "ok", took, (failures or {}).get(name, ""))
    entries = notebook_rows(reports)
    lines = ["# Results summary", ""]
    lines += [markdown_table([overview_row(e) for e in entries]) if entries else "_no notebook results in this folder_", ""]
    failed = [e for e in entries if e["outcome"] and e["outcome"].get("status", "ok") != "ok"]
    if failed:
        lines += ["## Notebooks that did not finish", ""] + [
            f"- **{e['name']}** ({e['outcome']['status'].replace('_', ' ')}): {e['outcome']['error']}" for e in failed] + [""]
    figure = accuracy_figure(entries, reports / FIGURE_FILE)
    if figure:
        lines += ["## Headline metric against trainable parameters", "", f"![headline vs parameters]({figure.name})", ""]
    for entry in entries:
        results = entry["results"]
        if not results:
            continue
        lines += [f"## {entry['name']}", "",
                  f"{results.get('title', '')} · profile `{results['profile']}` · seed {results['seed']} · "
                  f"device {results['device']} · precision {results.get('precision', '?')}", ""]
        rows = metric_table(results)
        lines += [markdown_table(rows) if rows else "_no methods recorded_", ""]
        checks = results.get("checks", {})
        if checks:
            lines += [markdown_table([{"check": name, "value": format_value(check.get("value")),
                                       "passed": "yes" if check.get("passed") else "**NO**"}
                                      for name, check in checks.items()]), ""]
    markdown = "\n".join(lines)
    (reports / "summary.md").write_text(markdown)
    (reports / "summary.html").write_text(_html(markdown))
    return reports / "summary.md"


def compare_rows(report_folders: list[Path]) -> list[dict[str, Any]]:
    """One row per report folder and notebook: status, headline, time, failed checks (``--compare``)."""
    rows = []
    for folder in report_folders:
        for entry in notebook_rows(folder):
            overview = overview_row(entry)
            rows.append({"submission": Path(folder).name, "notebook": entry["name"], "status": overview["status"],
                         "headline": overview["headline"], "value": overview["value"], "time (s)": overview["time (s)"],
                         "failed checks": overview["failed checks"],
                         "error": (entry["outcome"] or {}).get("error", "")[:120]})
    return rows


def build_comparison(report_folders: list[Path], output: Path) -> Path:
    """``output/comparison.md`` and ``.html``: several report folders (e.g. students' submissions) side by side."""
    rows = compare_rows(report_folders)
    markdown = "# Submissions compared\n\n" + (markdown_table(rows) if rows else "_no results in these folders_") + "\n"
    output.mkdir(parents=True, exist_ok=True)
    (output / "comparison.md").write_text(markdown)
    (output / "comparison.html").write_text(_html(markdown))
    return output / "comparison.md"


def _is_score(metric: str) -> bool:
    """A metric between 0 and 1 where higher is better (accuracy, F1, AUC, recall, precision)."""
    return "accuracy" in metric or metric.endswith(("f1", "auc", "recall", "precision"))


def _as_share(metric: str, value: Any) -> Any:
    return percent(value) if isinstance(value, float) and _is_score(metric) else value


def _html(markdown: str) -> str:
    import mistune

    body = mistune.create_markdown(plugins=["table"])(markdown)
    return ("<!doctype html><meta charset='utf-8'><title>Results summary</title>"
            "<style>body{font-family:sans-serif;max-width:80em;margin:2em auto}table{border-collapse:collapse;"
            "font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em}img{max-width:100%}</style>\n"
            f"<!-- built by hwutils.batch.summary from {html.escape('results.json')} files -->\n" + body)
