"""Right-to-left display: HTML direction, and what matplotlib actually draws for a Persian label."""

from __future__ import annotations

from hwutils.persian import rtl

LABEL = "دقت در برابر تعداد زنجیره\u200cها"  # no lam-alef ligature, no left-to-right run


def test_tables_give_every_cell_its_own_direction_and_escape_html():
    html = rtl.rtl_table([{"comment": "غذا <b>سرد</b> بود.", "accuracy": 0.98765}], caption="نتایج")
    assert html.count('dir="auto"') == 4  # two header cells, two body cells
    assert "&lt;b&gt;" in html and "<b>سرد" not in html
    assert "0.9877" in html and "<caption><b>نتایج</b></caption>" in html


def test_blocks_are_right_to_left_and_keep_line_breaks():
    block = rtl.rtl_block("مسئله: ۲ + ۳\nپاسخ: ۵")
    assert block.startswith('<div dir="rtl"') and "<br>" in block


def test_the_plot_label_is_drawn_right_to_left_in_joined_forms_with_every_glyph():
    check = rtl.layout_check(LABEL)
    assert check["reads_right_to_left"], check["read_back"]
    assert check["missing_glyphs"] == 0
    assert check["contextual_forms"] >= 10  # most letters are joined, not isolated


def test_the_check_catches_text_drawn_in_the_wrong_order():
    # On a matplotlib that lays out text itself, shaping and reordering by hand reverses the words;
    # on one that does not, passing the raw text leaves it reversed. Either way one of them is wrong.
    wrong = rtl.shape_and_reorder if rtl.matplotlib_lays_out_complex_text() else (lambda t: t)
    assert not rtl.layout_check(LABEL, prepare=wrong)["reads_right_to_left"]


def test_plot_text_shapes_and_reorders_only_where_matplotlib_does_not(monkeypatch):
    monkeypatch.setattr(rtl, "matplotlib_lays_out_complex_text", lambda: False)
    shaped = rtl.plot_text(LABEL)
    assert shaped == rtl.shape_and_reorder(LABEL) != LABEL
    assert rtl.shape_and_reorder("مل") == "\ufede\ufee3"  # drawn left to right: final lam, then initial meem
    monkeypatch.setattr(rtl, "matplotlib_lays_out_complex_text", lambda: True)
    assert rtl.plot_text(LABEL) == LABEL


def test_missing_glyphs_names_what_a_font_cannot_draw():
    assert rtl.missing_glyphs(LABEL + " ۰۱۲۳۴۵۶۷۸۹") == []
    assert rtl.missing_glyphs("سلام", font="cmr10")  # a font with Latin letters only
