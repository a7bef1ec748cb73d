"""One vocabulary of setting names: every settings file is held to the core's glossary."""

from __future__ import annotations

from collections import Counter

import pytest

from hwutils.core import glossary
from hwutils.core.profiles import available_notebooks, profile_table

NAMES = {notebook: set(profile_table(notebook)["smoke"]) for notebook in available_notebooks()}


@pytest.mark.parametrize("notebook", sorted(NAMES))
def test_no_retired_spelling_is_used(notebook):
    problems = [problem for name in sorted(NAMES[notebook]) if (problem := glossary.problem_with(name))]
    assert problems == [], f"{notebook}: " + "; ".join(problems)


def test_every_name_shared_by_two_notebooks_is_in_the_glossary():
    used = Counter(name for names in NAMES.values() for name in names)
    unlisted = sorted(name for name, count in used.items() if count >= 2 and not glossary.is_shared_name(name))
    assert unlisted == [], f"names used by several notebooks but not in hwutils.core.glossary: {unlisted}"


def test_the_glossary_catches_drifted_names():
    assert glossary.problem_with("lr_lora") and glossary.problem_with("cpu_threads")
    assert glossary.problem_with("head_learning_rate") and glossary.problem_with("lora_target_modules")
    assert glossary.problem_with("lora_lr") is None and glossary.problem_with("threads") is None
    assert glossary.is_shared_name("coop_lr") and not glossary.is_shared_name("latency_repeats")


def test_no_retired_name_is_also_a_glossary_name():
    assert not set(glossary.RETIRED) & set(glossary.SHARED)
