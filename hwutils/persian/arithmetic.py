"""A documented generator of Persian arithmetic word problems, each with a worked chain of steps.

No Persian grade-school arithmetic set with numeric answers and a clear licence was found on the
Hugging Face Hub (translations of GSM8K exist, but without a verified licence or answer format),
so both profiles draw their problems from this generator. It is seeded, so a seed gives the
same problems everywhere, and its difficulty is explicit:

* **operations**: every template takes two or three arithmetic operations (``+``, ``−``, ``×``);
  a direct answer has to do all of them "in its head", a chain of thought writes one per step;
* **max_number**: the largest operand (multipliers stay at most 9); the answer is always a
  positive integer, at most ``max(2, max_number) × min(max_number, 9) × 2``.

Each problem comes with its **worked chain**: one short Persian sentence per operation, with the
equation written out (``۱۲ + ۵ = ۱۷``), then ``پاسخ: <answer>``. Few-shot chain-of-thought
prompts show such chains; the answer is checked against ``answer`` after extraction
(:func:`hwutils.persian.text.extract_answer`). Numbers are written with Persian digits, and
words that need it keep their zero-width non-joiner (``می‌خرد``, ``سیب‌ها``).

>>> problems = generate_problems(3, seed=0, max_number=9)
>>> [p.answer == evaluate(p) for p in problems]
[True, True, True]
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from hwutils.persian.text import ZWNJ, persian_number

NAMES = ["علی", "مریم", "سارا", "رضا", "نگار", "حسین", "زهرا", "امیر"]
ITEMS = ["سیب", "مداد", "کتاب", "گل", "شیرینی", "تخم" + ZWNJ + "مرغ", "کارت", "توپ"]
MAX_MULTIPLIER = 9


@dataclass(frozen=True)
class WordProblem:
    """One problem: the question, the worked steps, the answer, and how it was made."""

    question: str
    steps: tuple[str, ...]  # one sentence per operation, the equation written out
    answer: int
    template: str
    operands: tuple[int, ...]

    @property
    def operations(self) -> int:
        return len(self.steps)

    def chain(self) -> str:
        """The worked solution: the steps, then the answer line."""
        return " ".join(self.steps) + f"\nپاسخ: {persian_number(self.answer)}"


def _n(value: int) -> str:
    return persian_number(value)


def _plural(item: str) -> str:
    return item + ZWNJ + "ها"


def buy_and_give(rng: random.Random, top: int) -> WordProblem:
    """Someone has a, buys b more, gives c away: a + b − c."""
    name, friend = rng.sample(NAMES, 2)
    item = rng.choice(ITEMS)
    a, b = rng.randint(1, top), rng.randint(1, top)
    total = a + b
    c = rng.randint(1, min(top, total - 1))
    return WordProblem(
        f"{name} {_n(a)} {item} دارد. او {_n(b)} {item} دیگر می{ZWNJ}خرد و سپس {_n(c)} {item} به {friend} می{ZWNJ}دهد. "
        f"اکنون {name} چند {item} دارد؟",
        (f"پس از خرید: {_n(a)} + {_n(b)} = {_n(total)}.", f"پس از بخشیدن: {_n(total)} − {_n(c)} = {_n(total - c)}."),
        total - c, "buy_and_give", (a, b, c))


def boxes(rng: random.Random, top: int) -> WordProblem:
    """a boxes of b items each, c taken out: a × b − c."""
    name = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    a, b = rng.randint(2, min(top, MAX_MULTIPLIER)), rng.randint(2, top)
    total = a * b
    c = rng.randint(1, min(top, total - 1))
    return WordProblem(
        f"{name} {_n(a)} جعبه دارد و در هر جعبه {_n(b)} {item} است. او {_n(c)} {item} برمی{ZWNJ}دارد. "
        f"چند {item} در جعبه{ZWNJ}ها می{ZWNJ}ماند؟",
        (f"در جعبه{ZWNJ}ها: {_n(a)} × {_n(b)} = {_n(total)}.", f"پس از برداشتن: {_n(total)} − {_n(c)} = {_n(total - c)}."),
        total - c, "boxes", (a, b, c))


def reading(rng: random.Random, top: int) -> WordProblem:
    """a pages a day for b days, then c more: a × b + c."""
    name = rng.choice(NAMES)
    a, b, c = rng.randint(2, top), rng.randint(2, min(top, MAX_MULTIPLIER)), rng.randint(1, top)
    pages = a * b
    return WordProblem(
        f"{name} هر روز {_n(a)} صفحه کتاب می{ZWNJ}خواند. او {_n(b)} روز خواند و سپس {_n(c)} صفحه{ZWNJ}ی دیگر هم خواند. "
        f"او روی{ZWNJ}هم چند صفحه خواند؟",
        (f"در {_n(b)} روز: {_n(a)} × {_n(b)} = {_n(pages)}.", f"با صفحه{ZWNJ}های دیگر: {_n(pages)} + {_n(c)} = {_n(pages + c)}."),
        pages + c, "reading", (a, b, c))


def shop(rng: random.Random, top: int) -> WordProblem:
    """a items sold in the morning, b in the afternoon, at c each: (a + b) × c."""
    item = rng.choice(ITEMS)
    a, b, c = rng.randint(1, top), rng.randint(1, top), rng.randint(2, min(top, MAX_MULTIPLIER))
    sold = a + b
    return WordProblem(
        f"فروشگاهی صبح {_n(a)} {item} و عصر {_n(b)} {item} فروخت. قیمت هر {item} {_n(c)} هزار تومان است. "
        f"فروشگاه روی{ZWNJ}هم چند هزار تومان فروخت؟",
        (f"همه{ZWNJ}ی فروش: {_n(a)} + {_n(b)} = {_n(sold)}.", f"پول: {_n(sold)} × {_n(c)} = {_n(sold * c)}."),
        sold * c, "shop", (a, b, c))


def together(rng: random.Random, top: int) -> WordProblem:
    """One has a, a friend b more; together, then c sold: a + (a + b) − c (three operations)."""
    name, friend = rng.sample(NAMES, 2)
    item = rng.choice(ITEMS)
    a, b = rng.randint(1, top), rng.randint(1, top)
    friend_has = a + b
    together = a + friend_has
    c = rng.randint(1, min(top, together - 1))
    return WordProblem(
        f"{name} {_n(a)} {item} دارد و {friend} {_n(b)} {item} بیشتر از او دارد. آن{ZWNJ}ها همه{ZWNJ}ی {_plural(item)} را "
        f"روی هم می{ZWNJ}گذارند و {_n(c)} تا را می{ZWNJ}فروشند. چند {item} برایشان می{ZWNJ}ماند؟",
        (f"{friend}: {_n(a)} + {_n(b)} = {_n(friend_has)}.", f"روی هم: {_n(a)} + {_n(friend_has)} = {_n(together)}.",
         f"پس از فروش: {_n(together)} − {_n(c)} = {_n(together - c)}."),
        together - c, "together", (a, b, c))


TEMPLATES: dict[str, Callable[[random.Random, int], WordProblem]] = {
    "buy_and_give": buy_and_give, "boxes": boxes, "reading": reading, "shop": shop, "together": together,
}


def evaluate(problem: WordProblem) -> int:
    """The answer recomputed from the operands by each template's formula (a check on the text)."""
    a, b, c = problem.operands
    formulas = {"buy_and_give": a + b - c, "boxes": a * b - c, "reading": a * b + c, "shop": (a + b) * c,
                "together": a + (a + b) - c}
    return formulas[problem.template]


def generate_problems(n: int, seed: int, max_number: int = 20, templates: list[str] | None = None) -> list[WordProblem]:
    """``n`` problems drawn with ``seed``, cycling through ``templates`` (default: all) so that each
    template is equally frequent; operands are at most ``max_number``."""
    names = list(templates or TEMPLATES)
    rng = random.Random(seed)
    order = [names[i % len(names)] for i in range(n)]
    rng.shuffle(order)
    return [TEMPLATES[name](rng, max_number) for name in order]
