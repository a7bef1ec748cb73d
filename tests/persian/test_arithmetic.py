"""The word-problem generator: seeded, balanced, bounded, and every worked chain reads back to its answer."""

from __future__ import annotations

from collections import Counter

import pytest

from hwutils.persian import arithmetic
from hwutils.persian.reasoning import chain_is_correct
from hwutils.persian.text import ZWNJ, extract_answer, extract_numbers


def test_the_same_seed_gives_the_same_problems_and_another_seed_others():
    assert arithmetic.generate_problems(20, seed=3) == arithmetic.generate_problems(20, seed=3)
    assert arithmetic.generate_problems(20, seed=3) != arithmetic.generate_problems(20, seed=4)


@pytest.mark.parametrize("max_number", [5, 20])
def test_every_answer_is_a_positive_integer_matching_its_formula_and_its_chain(max_number):
    problems = arithmetic.generate_problems(200, seed=0, max_number=max_number)
    for p in problems:
        assert p.answer == arithmetic.evaluate(p) > 0
        assert extract_answer(p.chain()) == p.answer  # the answer line, in Persian digits, reads back
        assert chain_is_correct(p.chain())  # every written equation holds
        assert all(1 <= x <= max_number for x in p.operands)
        assert p.operations == len(extract_numbers(p.chain())) // 3 >= 2


def test_templates_are_equally_frequent_and_can_be_restricted():
    counts = Counter(p.template for p in arithmetic.generate_problems(100, seed=1))
    assert set(counts) == set(arithmetic.TEMPLATES) and set(counts.values()) == {20}
    chosen = arithmetic.generate_problems(10, seed=1, templates=["shop"])
    assert {p.template for p in chosen} == {"shop"}


def test_questions_use_persian_digits_and_keep_their_zwnj():
    problems = arithmetic.generate_problems(50, seed=2)
    assert all(not any(c.isascii() and c.isdigit() for c in p.question) for p in problems)
    assert all(ZWNJ in p.question for p in problems)
