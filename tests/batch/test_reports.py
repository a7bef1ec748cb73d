"""Reports a grader can read: outputs that fit the printed page, a short settings table, a report without code.

The page test prints a notebook whose outputs are far wider than a page (a markdown table, an HTML
table, a long line of text, a wide image), turns the PDF into PNG pages and looks at the pixels: the
right end of every output carries a marker of its own colour, which must be on the page (nothing cut
off or scrolled away), and nothing may be drawn in the page's right margin.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from hwutils.batch import export
from hwutils.core.paths import fixtures_dir
from hwutils.core.profiles import Settings, load_settings, profile_table

NEEDS_PDF_TOOLS = pytest.mark.skipif(export.find_chromium() is None or shutil.which("pdftoppm") is None,
                                     reason="needs Chromium and pdftoppm (apt-get install chromium poppler-utils)")

# The marker at the right end of each wide output (its colour), and how to recognise its pixels.
MARKERS = {
    "markdown table": ((0, 160, 0), lambda r, g, b: (g > 120) & (r < 80) & (b < 80)),
    "HTML table": ((0, 0, 255), lambda r, g, b: (b > 200) & (r < 60) & (g < 60)),
    "wide image": ((255, 150, 0), lambda r, g, b: (r > 200) & (g > 110) & (g < 190) & (b < 60)),
    "long line of text": (None, lambda r, g, b: (r > 200) & (g > 70) & (g < 115) & (b > 70) & (b < 115)),  # ANSI red bg
}
SOURCE = "show_results_table()"


def _rgb_hex(colour: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in colour)


def wide_notebook(path: Path) -> Path:
    """An executed notebook (outputs written directly, no kernel) whose outputs are too wide for a page."""
    from PIL import Image

    green, blue = _rgb_hex(MARKERS["markdown table"][0]), _rgb_hex(MARKERS["HTML table"][0])
    headers = ["method", "trainable parameters", "share of the model", "train time (s)", "peak memory (MB)",
               "validation accuracy", "test accuracy", "macro F1", "cached features (MB)", "throughput (images/s)",
               "resumed from step", "last"]
    block = f'<span style="background:{green}">&nbsp;&nbsp;&nbsp;&nbsp;</span>'
    markdown = [f"| {' | '.join(headers)} |", "|" + "---|" * len(headers)]
    markdown += [f"| linear_probe_{row} | " + " | ".join(f"{1234567.891 * (row + col):,.3f}" for col in range(len(headers) - 2))
                 + f" | {block} |" for row in range(4)]
    frame = ("<table class='dataframe'><thead><tr>" + "".join(f"<th>column_number_{i}</th>" for i in range(18))
             + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{i * 1000.123456:.4f}</td>" for i in range(17))
             + f"<td style='background:{blue}'>&nbsp;&nbsp;&nbsp;</td></tr>" for _ in range(3)) + "</tbody></table>")
    image = Image.new("RGB", (2400, 120), (200, 200, 200))
    image.paste(MARKERS["wide image"][0], (2300, 0, 2400, 120))
    png = io.BytesIO()
    image.save(png, format="PNG")
    long_line = "/a/path/without/any/space/" + "segment/" * 40 + " " + "words " * 50 + "\x1b[41mEND\x1b[0m\n"
    cell = nbformat.v4.new_code_cell(SOURCE, execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": "\n".join(markdown), "text/plain": "table"}),
        nbformat.v4.new_output("display_data", data={"text/html": frame, "text/plain": "frame"}),
        nbformat.v4.new_output("stream", name="stdout", text=long_line),
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png.getvalue()).decode(), "text/plain": "image"}),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Outputs wider than a page"), cell])
    nbformat.write(notebook, path)
    return path


def page_images(pdf: Path, dpi: int = 60) -> list:
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(pdf.with_suffix(""))], check=True)
    return [Image.open(page).convert("RGB") for page in sorted(pdf.parent.glob(f"{pdf.stem}-*.png"))]


def layout_problems(pages: list, margin_fraction: float = 0.03) -> list[str]:
    """What is wrong with the printed pages: ink in the right margin, or a marker on no page (its
    output was cut off or scrolled out of sight)."""
    import numpy as np

    found = dict.fromkeys(MARKERS, 0)
    problems = []
    for number, page in enumerate(pages, 1):
        rgb = np.asarray(page).astype(int)
        inked_columns = np.flatnonzero((rgb.min(axis=2) <= 235).any(axis=0))
        width = rgb.shape[1]
        if inked_columns.size and inked_columns[-1] >= width * (1 - margin_fraction):
            problems.append(f"page {number}: ink at x={inked_columns[-1]} of {width}, in the right margin")
        for name, (_, matches) in MARKERS.items():
            found[name] += int(matches(rgb[..., 0], rgb[..., 1], rgb[..., 2]).sum())
    return problems + [f"the right end of the {name} is on no page (cut off)" for name, count in found.items() if count < 4]


@NEEDS_PDF_TOOLS
@pytest.mark.slow
def test_wide_outputs_fit_the_printed_page(tmp_path):
    html = export.export_html(wide_notebook(tmp_path / "wide.ipynb"))
    pages = page_images(export.export_pdf(html, export.find_chromium()))
    assert pages, "no page printed"
    assert layout_problems(pages) == []


def test_the_report_without_code_keeps_the_outputs(tmp_path):
    notebook = wide_notebook(tmp_path / "wide.ipynb")
    full, no_code = export.export_html(notebook), export.export_html(notebook, include_code=False)
    assert no_code.name == "wide.no-code.html" and full.name == "wide.html"
    assert "show_results_table" in full.read_text() and "show_results_table" not in no_code.read_text()
    assert "linear_probe_3" in no_code.read_text() and "column_number_17" in no_code.read_text()


def test_the_settings_table_shows_only_what_overrides_changed():
    shown = load_settings("06_nano_transformer", "full", {"max_steps": 50, "char_lm_lr": 1e-3})._repr_markdown_()
    total = len(profile_table("06_nano_transformer")["full"])
    summary, folded = shown.split("<details>")
    assert "| `max_steps` | `50` | `5000` |" in summary, "an override, with the profile's default beside it"
    assert "char_lm_lr" not in summary, "an override equal to the default changed nothing"
    assert summary.count("\n| `") == 1, "only the changed setting is listed"
    assert f"The other {total - 1} are the `full` profile's defaults" in summary
    assert 'saved in `results.json` under `"settings"`' in summary
    assert folded.count("\n| `") == total, "every setting, folded away"


def test_an_unchanged_profile_shows_one_line_and_a_fixture_path_counts_as_its_default():
    values = dict(profile_table("06_nano_transformer")["smoke"])
    values["dataset"] = str(fixtures_dir() / values["dataset"].removeprefix("fixture:"))  # as load_settings resolves it
    shown = Settings("06_nano_transformer", "smoke", values)._repr_markdown_()
    summary = shown.split("<details>")[0]
    assert f"{len(values)} settings, none changed by OVERRIDES" in summary and "| changed setting" not in summary
