from __future__ import annotations

import pytest

from hwutils.core.errors import ConfigError
from hwutils.core.profiles import PROFILES, available_notebooks, load_settings, profile_table


def test_every_notebook_defines_the_same_settings_in_both_profiles():
    assert available_notebooks()
    for notebook in available_notebooks():
        table = profile_table(notebook)
        assert set(table["smoke"]) == set(table["full"]), f"{notebook}: the profiles must name the same settings"


def test_smoke_settings_resolve_fixtures_to_local_folders():
    settings = load_settings("06_nano_transformer", "smoke")
    assert settings.profile == "smoke"
    assert settings.dataset.endswith("dialogue_corpus") and not settings.dataset.startswith("fixture:")


def test_full_profile_keeps_hub_ids():
    assert load_settings("06_nano_transformer", "full").dataset == "michellejieli/friends_dataset"


def test_overrides_replace_values_and_keep_types():
    settings = load_settings("06_nano_transformer", "smoke", {"max_steps": 7, "char_lm_lr": 1, "dataset": "/tmp"})
    assert settings.max_steps == 7
    assert settings.char_lm_lr == 1.0 and isinstance(settings.char_lm_lr, float)
    assert settings["dataset"] == "/tmp"


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown profile 'bogus'; valid profiles: full, smoke"):
        load_settings("06_nano_transformer", "bogus")


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown setting 'max_stepz'; valid settings: .*max_steps"):
        load_settings("06_nano_transformer", "smoke", {"max_stepz": 3})
    settings = load_settings("06_nano_transformer", "smoke")
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        settings.nope


def test_override_of_the_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="expects int"):
        load_settings("06_nano_transformer", "smoke", {"max_steps": "many"})
    with pytest.raises(ConfigError, match="expects bool|expects float"):
        load_settings("06_nano_transformer", "smoke", {"char_lm_lr": True})


def test_unknown_notebook_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown notebook 'nope'; valid notebooks: .*06_nano_transformer"):
        load_settings("nope", "smoke")


def test_profiles_are_the_two_documented_ones():
    assert PROFILES == ("smoke", "full")


def test_settings_that_do_not_change_a_computation_stay_out_of_computing():
    base = load_settings("06_nano_transformer", "smoke")
    moved = load_settings("06_nano_transformer", "smoke", {"preflight": "off", "threads": 1, "device": "cpu"})
    assert moved.as_dict() != base.as_dict() and moved.computing() == base.computing()
    assert load_settings("06_nano_transformer", "smoke", {"max_steps": 7}).computing() != base.computing()
