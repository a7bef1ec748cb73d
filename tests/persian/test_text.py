"""Persian normalisation and number extraction: every digit set, both separators, ZWNJ kept."""

from __future__ import annotations

import pytest

from hwutils.persian import text

ZWNJ = "\u200c"


@pytest.mark.parametrize("written, expected", [
    ("۱۲۳", 123),        # Persian digits
    ("١٢٣", 123),        # Arabic-Indic digits
    ("123", 123),        # ASCII digits
    ("۱٬۲۰۰", 1200),     # Arabic thousands separator
    ("1,200", 1200),     # ASCII thousands separator
    ("۳٫۵", 3.5),        # Arabic decimal separator
    ("٣٫٥", 3.5),
    ("3.5", 3.5),
    ("۱٬۲۳۴٫۵", 1234.5),
    ("−۵", -5),          # a minus sign (U+2212) before a number is its sign
    ("-7", -7),
])
def test_a_number_is_read_in_any_digit_set_and_separator(written, expected):
    assert text.extract_numbers(f"مقدار {written} است") == [expected]
    assert type(text.extract_numbers(written)[0]) is type(expected)


def test_mixed_digit_sets_in_one_text_are_read_in_order():
    assert text.extract_numbers("علی ۱۲ سیب، مریم ١٣ سیب و رضا 14 سیب دارد") == [12, 13, 14]


def test_the_persian_comma_separates_numbers_instead_of_grouping_thousands():
    assert text.extract_numbers("۱۲، ۱۳") == [12, 13]
    assert text.extract_numbers("۱۲،۳۴۵") == [12, 345]


def test_subtraction_is_not_read_as_a_negative_number():
    assert text.extract_numbers("۱۷ − ۳ = ۱۴") == [17, 3, 14]
    assert text.extract_numbers("۱۷-۳") == [17, 3]


def test_the_answer_is_the_number_after_the_last_marker_else_the_last_number():
    chain = "پس از خرید: ۳ + ۲ = ۵. پس از بخشیدن: ۵ − ۲ = ۳.\nپاسخ: ۳ سیب، نه ۵"
    assert text.extract_answer(chain) == 3
    assert text.extract_answer("جواب نهایی ٤٢ است") == 42
    assert text.extract_answer("اول ۴ بعد ۹") == 9
    assert text.extract_answer("پاسخ: نمی‌دانم، شاید ۷") == 7
    assert text.extract_answer("نمی‌دانم") is None


def test_arabic_letters_become_persian_and_zwnj_is_kept():
    typed = "هيچ كتابي نمی" + ZWNJ + "خواهم و يى"
    normal = text.normalise(typed)
    assert normal == "هیچ کتابی نمی" + ZWNJ + "خواهم و یی"
    assert ZWNJ in normal
    assert text.normalise("می" + ZWNJ * 3 + "خرد") == "می" + ZWNJ + "خرد"  # a run of ZWNJ becomes one


def test_normalising_leaves_digits_and_persian_text_alone():
    persian = "علی ۱۲ سیب می" + ZWNJ + "خرد؛ ١٢ و 12."
    assert text.normalise(persian) == persian


def test_digits_convert_both_ways_and_numbers_print_the_persian_way():
    assert text.to_ascii_digits("۱۲۳ و ١٢٣") == "123 و 123"
    assert text.to_persian_digits("123 و ١٢٣") == "۱۲۳ و ۱۲۳"
    assert text.persian_number(1200) == "۱٬۲۰۰"
    assert text.persian_number(3.5) == "۳٫۵"
    assert text.persian_number(14.0) == "۱۴"
    assert text.extract_numbers(text.persian_number(1234.5)) == [1234.5]


def test_same_number_compares_values_and_never_matches_none():
    assert text.same_number(14, 14.0) and not text.same_number(14, 15)
    assert not text.same_number(None, None) and not text.same_number(None, 3)
