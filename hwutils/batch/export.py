"""Exports of an executed notebook: a self-contained HTML page, and a PDF printed by headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Long code lines wrap instead of being cut at the page edge when printed to PDF.
PRINT_CSS = "<style>@media print { pre, .jp-InputArea-editor pre { white-space: pre-wrap !important; word-break: break-word; } }</style>"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_HELP = (
    "PDF export needs Chromium, and none was found. On Debian/Ubuntu: `sudo apt-get install chromium`; "
    "elsewhere install Chrome or Chromium and set HWUTILS_CHROMIUM=/path/to/the/browser. "
    "The HTML reports were written all the same."
)


def export_html(executed: Path, include_code: bool = True) -> Path:
    """The executed notebook as a self-contained HTML page beside it (``<name>.html``, or without the
    code cells' input, ``<name>.no-code.html``, nbconvert's ``--no-input``)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", exclude_input=not include_code, exclude_input_prompt=not include_code)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html") if include_code else executed.with_name(executed.stem + ".no-code.html")
    html.write_text(body.replace("</head>", PRINT_CSS + "</head>", 1), encoding="utf-8")
    return html


def find_chromium() -> str | None:
    """``HWUTILS_CHROMIUM`` if set, else the first Chromium or Chrome on the PATH."""
    if os.environ.get("HWUTILS_CHROMIUM"):
        return os.environ["HWUTILS_CHROMIUM"]
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def export_pdf(html: Path, chromium: str) -> Path:
    """Print ``html`` to PDF with headless Chromium (no network, a throwaway profile)."""
    pdf = html.with_suffix(".pdf")
    with tempfile.TemporaryDirectory() as profile_dir:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile_dir}", "--no-pdf-header-footer", "--virtual-time-budget=20000",
                   f"--print-to-pdf={pdf}", html.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if not pdf.exists():
        raise RuntimeError(f"Chromium did not write {pdf.name}: {done.stderr.strip()[-300:]}")
    return pdf
