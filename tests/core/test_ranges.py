"""Valid values are checked when settings load: a bad value fails at once with one line."""

from __future__ import annotations

import pytest

from hwutils.core import ranges
from hwutils.core.errors import ConfigError
from hwutils.core.profiles import PROFILES, available_notebooks, load_settings, profile_table, valid_values


def test_rules_for_numbers_choices_and_lists():
    assert ranges.check_value("lora_r", 0, {"min": 1}) == "setting 'lora_r' = 0 is not valid: it must be at least 1"
    assert ranges.check_value("lora_r", 8, {"min": 1}) is None
    assert "valid values are 'stop', 'warn', 'off'" in ranges.check_value("preflight", "maybe", ranges.general_rule("preflight"))
    shots = {"min_items": 1, "each": {"min": 0, "max": 8}}
    assert "at least 1 item" in ranges.check_value("prompt_shots", [], shots)
    assert "has the item 9" in ranges.check_value("prompt_shots", [0, 9], shots)
    assert ranges.check_value("prompt_shots", [0], shots) is None


def test_general_rules_follow_the_vocabulary():
    assert ranges.general_rule("coop_lr") == {"above": 0}
    assert ranges.general_rule("head_batch_size") == {"min": 1}
    assert ranges.general_rule("validation_fraction") == {"above": 0, "max": 1}
    assert ranges.check_value("device", "gpu", ranges.general_rule("device"))
    assert ranges.check_value("device", "cuda:1", ranges.general_rule("device")) is None


def test_a_bad_override_fails_when_settings_load():
    with pytest.raises(ConfigError, match="setting 'max_steps' = 0 is not valid: it must be at least 1"):
        load_settings("06_nano_transformer", "smoke", {"max_steps": 0})
    with pytest.raises(ConfigError, match="'precision'|'preflight'"):
        load_settings("06_nano_transformer", "smoke", {"preflight": "sometimes"})


@pytest.mark.parametrize("notebook", available_notebooks())
def test_every_profile_of_every_notebook_is_valid(notebook):
    for profile in PROFILES:
        values = profile_table(notebook)[profile]
        assert ranges.problems(values, valid_values(notebook)) == [], (notebook, profile)


def test_a_specific_rule_comes_before_the_general_rule_it_refines():
    from hwutils.core.ranges import problems

    assert problems({"warmup_steps": 0}, {}) == []  # no warm-up is valid, though other *_steps need 1
    assert problems({"max_steps": 0}, {}) != []
