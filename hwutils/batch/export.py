"""Exports of an executed notebook: a self-contained HTML page, and a PDF printed by headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# How a report prints: every output fits the page width. JupyterLab's styles scroll a wide output
# inside its box (and print it cut, with a scroll bar), fix table columns to the first row's widths
# and keep each output whole on one page, which pushes a long table to the next page and leaves the
# rest of the page blank. Here tables size their columns to their content, take a smaller font when
# they have many columns and wrap their cells (at spaces, else anywhere); code and text wrap; images
# and plots shrink to the page; a long output may break between table rows. A4, narrow margins.
PRINT_CSS = """<style>
@page { size: A4; margin: 12mm 11mm; }
@media print {
  :root { --jp-content-font-size1: 12.5px; --jp-code-font-size: 11px; --jp-ui-font-size1: 12px; }
  body.jp-Notebook { padding: 0; }
  .jp-OutputArea-output, .jp-RenderedHTMLCommon, .jp-RenderedMarkdown, .jp-RenderedHTML { overflow: visible !important; max-width: 100%; }
  .jp-OutputArea-child { break-inside: auto; }
  .jp-RenderedHTMLCommon table, .jp-OutputArea-output table {
    table-layout: auto !important; width: auto; max-width: 100%; font-size: 10px; margin-left: 0;
  }
  table:has(tr > :nth-child(9)) { font-size: 9px !important; }  /* many columns: smaller, before wrapping */
  table:has(tr > :nth-child(13)) { font-size: 8px !important; }
  .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td, .jp-OutputArea-output th, .jp-OutputArea-output td {
    padding: 2px 5px; white-space: normal !important; overflow-wrap: anywhere; word-break: break-word;
  }
  tr, img, svg, .jp-RenderedImage { break-inside: avoid; }
  img, svg, canvas, video, iframe { max-width: 100% !important; height: auto !important; }
  .jp-RenderedMarkdown pre { font-size: var(--jp-code-font-size); }  /* show_source code, as small as the cells' */
  pre, code, .jp-InputArea-editor pre, .jp-RenderedText pre {
    white-space: pre-wrap !important; overflow-wrap: anywhere; word-break: break-word;
  }
}
</style>"""
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

    exporter = HTMLExporter(template_name="lab", exclude_input=not include_code, exclude_input_prompt=not include_code,
                            exclude_output_prompt=not include_code)  # without code, "Out[n]:" points at nothing
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
