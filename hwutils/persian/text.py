"""Persian text: one normal form, and numbers read the way Persian writes them.

Persian text met in the wild mixes three digit sets and two keyboards:

* digits: Persian ``۰۱۲۳۴۵۶۷۸۹`` (U+06F0-U+06F9), Arabic-Indic ``٠١٢٣٤٥٦٧٨٩`` (U+0660-U+0669) and
  ASCII ``0-9``; a model may answer in any of them;
* separators: ``٫`` (U+066B, the Arabic decimal separator: ``۳٫۵`` is 3.5) and ``٬`` (U+066C, the
  thousands separator: ``۱٬۲۰۰`` is 1200); ASCII ``1,200`` and ``3.5`` also occur. The Persian
  comma ``،`` (U+060C) separates list items, never digits: ``۱۲، ۱۳`` is two numbers;
* letters: an Arabic keyboard types ``ي`` (U+064A) and ``ك`` (U+0643) where Persian has ``ی`` (U+06CC)
  and ``ک`` (U+06A9); they look alike, but a tokenizer and a string comparison see different
  characters, so ``normalise`` maps them (and the final-form ``ى``, U+0649) to the Persian ones;
* the zero-width non-joiner (ZWNJ, U+200C) belongs to the spelling: ``می‌خرد`` (he buys) is two
  parts that must not join, and removing the ZWNJ changes the word's shape and its tokens.
  ``normalise`` keeps it (a run of several becomes one).

:func:`extract_numbers` finds every number in a text, :func:`extract_answer` the answer of a
worked solution (the number after the last answer marker, else the last number).
"""

from __future__ import annotations

import re

ZWNJ = "\u200c"
PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
DECIMAL_SEPARATOR = "\u066b"  # ٫
THOUSANDS_SEPARATOR = "\u066c"  # ٬
ANSWER_MARKERS = ("پاسخ نهایی", "پاسخ", "جواب")  # "final answer", "answer", "reply"

_TO_ASCII_DIGITS = str.maketrans(PERSIAN_DIGITS + ARABIC_INDIC_DIGITS, "0123456789" * 2)
_TO_PERSIAN_DIGITS = str.maketrans("0123456789" + ARABIC_INDIC_DIGITS, PERSIAN_DIGITS * 2)
_ARABIC_TO_PERSIAN_LETTERS = str.maketrans({"\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9"})

# A number: optional sign (not glued to a preceding word or digit), digits with optional thousands
# groups (٬ or ASCII comma followed by exactly three digits), optional decimal part (٫ or a dot).
_NUMBER = re.compile(
    r"(?<![\w.\u066b\u066c])"
    r"(?P<sign>[-\u2212])?"
    r"(?P<integer>\d{1,3}(?:[\u066c,]\d{3})+|\d+)"
    r"(?:[.\u066b](?P<fraction>\d+))?"
    r"(?![\d\u066c])"
)


def digit_sets(text: str) -> list[str]:
    """Which digit sets ``text`` uses: ``"persian"``, ``"arabic_indic"``, ``"ascii"``."""
    found = {"persian": any(c in PERSIAN_DIGITS for c in text), "arabic_indic": any(c in ARABIC_INDIC_DIGITS for c in text),
             "ascii": any("0" <= c <= "9" for c in text)}
    return [name for name, present in found.items() if present]


def normalise(text: str) -> str:
    """Persian ``ی``/``ک`` for the Arabic ``ي``/``ى``/``ك``; ZWNJ kept (runs of it become one);
    digits, spaces and everything else unchanged."""
    text = text.translate(_ARABIC_TO_PERSIAN_LETTERS)
    return re.sub(f"{ZWNJ}{{2,}}", ZWNJ, text)


def to_ascii_digits(text: str) -> str:
    """Persian and Arabic-Indic digits as ASCII digits (``۱۲`` and ``١٢`` become ``12``)."""
    return text.translate(_TO_ASCII_DIGITS)


def to_persian_digits(text: str) -> str:
    """ASCII and Arabic-Indic digits as Persian digits (``12`` becomes ``۱۲``), for display."""
    return text.translate(_TO_PERSIAN_DIGITS)


def persian_number(value: float | int) -> str:
    """A number written the Persian way: Persian digits, ``٬`` between thousands, ``٫`` before decimals."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"
    return to_persian_digits(text.replace(",", THOUSANDS_SEPARATOR).replace(".", DECIMAL_SEPARATOR))


def extract_numbers(text: str) -> list[float | int]:
    """Every number in ``text``, in order: any of the three digit sets, ``٬``/``,`` between
    thousands, ``٫``/``.`` before decimals, a leading ``-`` or ``−`` when it is a sign (not a
    subtraction glued to a word). Integers come back as ``int``."""
    numbers: list[float | int] = []
    for match in _NUMBER.finditer(to_ascii_digits(normalise(text))):
        integer = re.sub(r"[\u066c,]", "", match["integer"])
        sign = -1 if match["sign"] else 1
        if match["fraction"]:
            numbers.append(sign * float(f"{integer}.{match['fraction']}"))
        else:
            numbers.append(sign * int(integer))
    return numbers


def extract_answer(text: str) -> float | int | None:
    """The answer of a model's solution: the first number after the last answer marker
    (``پاسخ``, ``جواب``, ...), else the last number of the text, else ``None``."""
    text = normalise(text)
    last_marker = max((text.rfind(marker) for marker in ANSWER_MARKERS), default=-1)
    if last_marker >= 0:
        after = extract_numbers(text[last_marker:])
        if after:
            return after[0]
    numbers = extract_numbers(text)
    return numbers[-1] if numbers else None


def same_number(a: float | int | None, b: float | int | None, tolerance: float = 1e-6) -> bool:
    """True when both are numbers and equal within ``tolerance`` (``None`` never matches)."""
    return a is not None and b is not None and abs(float(a) - float(b)) <= tolerance
