"""The set-up cell's runtime side: what an install changed, when a restart is needed, Kaggle's token."""

from __future__ import annotations

import sys
import types

from hwutils.core import platform


def test_install_changes_lists_new_and_changed_packages_only():
    before = {"numpy": "2.1.0", "torch": "2.8.0", "pandas": "2.2.2"}
    after = {"numpy": "2.1.0", "torch": "2.8.0", "pandas": "2.2.2", "peft": "0.21.2", "transformers": "4.57.6"}
    assert platform.install_changes(before, after) == {"peft": (None, "0.21.2"), "transformers": (None, "4.57.6")}
    changed = platform.install_changes({"transformers": "4.46.0"}, {"transformers": "4.57.6"})
    assert changed == {"transformers": ("4.46.0", "4.57.6")}


def test_a_restart_is_needed_only_for_changed_packages_already_imported():
    changes = {"transformers": ("4.46.0", "4.57.6"), "peft": (None, "0.21.2"), "huggingface-hub": ("0.30", "0.36.2")}
    assert platform.modules_needing_restart(changes, loaded={"transformers": object()}) == ["transformers"]
    assert platform.modules_needing_restart(changes, loaded={"peft": object()}) == [], "a new package needs no restart"
    assert platform.modules_needing_restart(changes, loaded={"huggingface_hub": object()}) == ["huggingface_hub"]


def test_kaggle_token_goes_into_the_environment_and_is_never_printed(monkeypatch, capsys):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    secret = "hf_secret_value_123"

    class Client:
        def get_secret(self, name):
            assert name == "HF_TOKEN"
            return secret

    monkeypatch.setitem(sys.modules, "kaggle_secrets", types.SimpleNamespace(UserSecretsClient=Client))
    status = platform.prepare_platform()
    assert platform.platform_name() == "kaggle"
    assert secret not in status and secret not in capsys.readouterr().out
    import os

    assert os.environ["HF_TOKEN"] == secret


def test_kaggle_without_the_secret_says_how_to_attach_it(monkeypatch):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setitem(sys.modules, "kaggle_secrets", None)  # the import fails
    assert "Add-ons > Secrets" in platform.prepare_platform()
