"""``hwutils preflight``: what each notebook's full profile needs on the GPUs students have.

Every topic package with a ``preflight`` module (``workloads(settings)``, and optionally
``disk(settings)`` giving download and output sizes in bytes) is estimated on the full profile's
settings. The README's table of GPU memory, run time and disk per notebook is this command's
``--markdown`` output, not typed by hand.
"""

from __future__ import annotations

import importlib
from typing import Any

from hwutils.core import preflight
from hwutils.core.display import markdown_table
from hwutils.core.profiles import available_notebooks, load_settings, notebook_info


def topic_preflight(notebook: str):
    """The notebook's ``hwutils.<topic>.preflight`` module, or None if its topic has none."""
    topic = notebook_info(notebook).topic
    try:
        return importlib.import_module(f"hwutils.{topic}.preflight")
    except ModuleNotFoundError as error:
        if error.name != f"hwutils.{topic}.preflight":
            raise
        return None


def notebook_estimates(notebook: str, gpus: list[preflight.GPU]) -> tuple[list[preflight.Estimate], dict[str, float]]:
    module = topic_preflight(notebook)
    if module is None:
        return [], {}
    settings = load_settings(notebook, "full")
    disk = module.disk(settings) if hasattr(module, "disk") else {}
    return preflight.estimate_all(list(module.workloads(settings)), gpus), disk


def report(notebooks: list[str] | None = None, gpu_keys: list[str] | None = None, markdown: bool = False) -> str:
    """Per notebook, a method x GPU table (or, with ``markdown``, the README's one-row-per-notebook table)."""
    gpus = [preflight.GPUS[k] for k in (gpu_keys or list(preflight.GPUS))]
    notebooks = notebooks or available_notebooks()
    summary_rows: list[dict[str, Any]] = []
    parts = []
    for notebook in notebooks:
        estimates, disk = notebook_estimates(notebook, gpus)
        if not estimates:
            parts.append(f"## {notebook}\n\n_no preflight module in its topic package_\n")
            continue
        parts.append(f"## {notebook}\n\n" + markdown_table(preflight.fit_table(estimates)) + "\n")
        row: dict[str, Any] = {"notebook": notebook}
        for gpu in gpus:
            worst = preflight.largest(estimates, gpu)
            row[gpu.name] = (f"{worst.total / preflight.GIB:.1f} GiB peak ({worst.workload}), "
                             f"{'fits' if all(e.fits for e in estimates if e.gpu.key == gpu.key) else 'DOES NOT FIT'}, "
                             f"~{preflight.format_duration(preflight.total_seconds(estimates, gpu))}")
        row["disk"] = ", ".join(f"{name} {size / 1e9:.1f} GB" for name, size in disk.items()) if disk else ""
        summary_rows.append(row)
    if markdown:
        return markdown_table(summary_rows) if summary_rows else "_no notebook has a preflight module_"
    header = (f"Estimates for the full profile (analytic, from the real architectures on the meta device; time at "
              f"{int(preflight.UTILISATION * 100)}% of each GPU's peak FLOP/s, an assumption).\n")
    return header + "\n".join(parts) + ("\n## All notebooks\n\n" + markdown_table(summary_rows) if summary_rows else "")
