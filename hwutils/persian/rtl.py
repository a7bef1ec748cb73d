"""Right-to-left text where a notebook shows it: HTML, tables, and matplotlib figures.

* **HTML and markdown**: a browser lays out Persian correctly only in a right-to-left context;
  inside a left-to-right paragraph or table cell, punctuation and numbers at the ends of a
  sentence land on the wrong side. :func:`rtl_block` wraps text in ``<div dir="rtl">``, and
  :func:`rtl_table` gives every cell ``dir="auto"`` (each cell takes the direction of its first
  strong character: Persian cells right to left, English and numbers left to right). Both are
  HTML, so they survive the HTML and PDF exports.
* **matplotlib** before 3.11 draws characters one by one, left to right, each in its isolated
  form: Persian comes out as unjoined letters in reverse order, so the text must first be
  *shaped* (``arabic_reshaper``: each letter takes its initial, medial or final form) and
  *reordered* for display (``bidi.algorithm.get_display``, the Unicode bidirectional algorithm).
  matplotlib 3.11 lays text out itself with libraqm (HarfBuzz shaping, FriBiDi ordering); given
  pre-shaped, pre-reordered text it reorders it once more, and the words come out reversed.
  :func:`plot_text` therefore shapes and reorders only where matplotlib does not.
  :func:`layout_check` verifies what is actually drawn, from matplotlib's own glyph layout: read
  from right to left, the drawn glyphs must give back the text, in joined (contextual) forms,
  with no glyph missing from the font. DejaVu Sans, which ships with matplotlib, has the glyphs.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from hwutils.core.display import format_value, plain

PLOT_FONT = "DejaVu Sans"


def rtl_block(text: str, *, monospace: bool = False) -> str:
    """HTML: ``text`` in a right-to-left, right-aligned block, line breaks kept."""
    family = "font-family: monospace; " if monospace else ""
    body = html.escape(text).replace("\n", "<br>")
    return f'<div dir="rtl" style="text-align: right; {family}line-height: 1.8">{body}</div>'


def rtl_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, caption: str = "",
              digits: int = 4) -> str:
    """HTML table of ``rows``; every cell has ``dir="auto"`` (Persian cells right to left), numbers
    formatted as in every other table (:func:`hwutils.core.display.format_value`)."""
    columns = list(columns or (rows[0].keys() if rows else []))
    head = "".join(f'<th dir="auto">{html.escape(str(c))}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td dir="auto">{html.escape(format_value(plain(row.get(c)), digits))}</td>' for c in columns) + "</tr>"
        for row in rows)
    title = f"<caption><b>{html.escape(caption)}</b></caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def show_html(markup: str) -> None:
    """Display HTML in a notebook (print it elsewhere)."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML(markup))
            return
    except ImportError:
        pass
    print(markup)


def show_rtl(text: str, *, monospace: bool = False) -> None:
    """Display ``text`` right to left (:func:`rtl_block`)."""
    show_html(rtl_block(text, monospace=monospace))


def show_rtl_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, caption: str = "") -> None:
    """Display :func:`rtl_table`."""
    show_html(rtl_table(rows, columns, caption))


def matplotlib_lays_out_complex_text() -> bool:
    """True when matplotlib shapes and orders text itself (libraqm, matplotlib 3.11 and later)."""
    from matplotlib.ft2font import FT2Font

    return hasattr(FT2Font, "_layout")


def shape_and_reorder(text: str) -> str:
    """``text`` in contextual letter forms (``arabic_reshaper``) and in display order
    (``bidi.algorithm.get_display``): what a renderer that draws characters left to right needs."""
    import arabic_reshaper
    from bidi.algorithm import get_display

    return get_display(arabic_reshaper.reshape(text))


def plot_text(text: str) -> str:
    """``text`` as matplotlib needs it to draw Persian right: unchanged where matplotlib lays out
    complex text itself, else shaped and reordered."""
    return text if matplotlib_lays_out_complex_text() else shape_and_reorder(text)


def drawn_glyphs(text: str, font: str = PLOT_FONT) -> list[tuple[str, int, float]]:
    """(character, glyph index, x position) of every glyph matplotlib draws for ``text`` as given,
    from its own text layout (``matplotlib._text_helpers.layout``, the function its backends use)."""
    from matplotlib import _text_helpers, font_manager
    from matplotlib.ft2font import FT2Font

    face = FT2Font(font_manager.findfont(font, fallback_to_default=False))
    face.set_size(12, 72)
    return [(item.char, getattr(item, "glyph_index", getattr(item, "glyph_idx", -1)), float(item.x))
            for item in _text_helpers.layout(text, face)]


def layout_check(text: str, font: str = PLOT_FONT, prepare=plot_text) -> dict[str, Any]:
    """What matplotlib draws for ``prepare(text)`` (default :func:`plot_text`): whether its glyphs,
    read from right to left, give back ``text`` (compared in Unicode NFKC form, which maps
    presentation forms to letters, without ZWNJ), how many glyphs are contextual forms rather
    than a letter's isolated glyph, and how many are missing from the font (glyph 0). Meant for a
    right-to-left text without ligatures such as لا or embedded left-to-right runs."""
    import unicodedata

    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    face = FT2Font(font_manager.findfont(font, fallback_to_default=False))
    glyphs = drawn_glyphs(prepare(text), font)

    def plain(s: str) -> str:
        return unicodedata.normalize("NFKC", s).replace("\u200c", "")

    read_back = "".join(plain(char) for char, _, _ in sorted(glyphs, key=lambda g: -g[2]))
    letters = [(plain(char), glyph) for char, glyph, _ in glyphs if plain(char).isalpha()]
    joined = sum(glyph != face.get_char_index(ord(char[0])) for char, glyph in letters)
    return {"reads_right_to_left": read_back == plain(text), "contextual_forms": joined,
            "missing_glyphs": sum(glyph == 0 for _, glyph, _ in glyphs), "read_back": read_back}


def missing_glyphs(text: str, font: str = PLOT_FONT) -> list[str]:
    """Characters of ``text`` in contextual forms (``arabic_reshaper``) that ``font`` has no glyph for."""
    import arabic_reshaper
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    path = font_manager.findfont(font, fallback_to_default=False)
    cmap = TTFont(path, fontNumber=0).getBestCmap()
    return sorted({c for c in arabic_reshaper.reshape(text) if not c.isspace() and c != "\u200c" and ord(c) not in cmap})
