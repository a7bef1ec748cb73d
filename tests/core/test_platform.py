"""The set-up cell's runtime side: what an install changed, when a restart is needed, Kaggle's token."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from hwutils.core import platform


def test_install_changes_lists_new_and_changed_packages_only():
    before = {"numpy": "2.1.0", "torch": "2.8.0", "pandas": "2.2.2"}
    after = {"numpy": "2.1.0", "torch": "2.8.0", "pandas": "2.2.2", "peft": "0.21.2", "transformers": "4.57.6"}
    assert platform.install_changes(before, after) == {"peft": (None, "0.21.2"), "transformers": (None, "4.57.6")}
    changed = platform.install_changes({"transformers": "4.46.0"}, {"transformers": "4.57.6"})
    assert changed == {"transformers": ("4.46.0", "4.57.6")}


OWNERS = {"transformers": ["transformers"], "peft": ["peft"], "huggingface_hub": ["huggingface-hub"],
          "IPython": ["ipython"], "zmq": ["pyzmq"], "numpy": ["numpy"], "torch": ["torch"]}


def test_a_restart_is_needed_only_for_changed_packages_already_imported():
    changes = {"transformers": ("4.46.0", "4.57.6"), "peft": (None, "0.21.2"), "huggingface-hub": ("0.30", "0.36.2")}
    assert platform.modules_needing_restart(changes, loaded={"transformers": object()}, owners=OWNERS) == ["transformers"]
    assert platform.modules_needing_restart(changes, loaded={"peft": object()}, owners=OWNERS) == [], \
        "a new package needs no restart"
    assert platform.modules_needing_restart(changes, loaded={"huggingface_hub.utils": object()}, owners=OWNERS) \
        == ["huggingface-hub"]


def test_a_restart_is_found_where_the_import_name_differs_from_the_package_name():
    changes = {"ipython": ("7.34.0", "9.18.1"), "pyzmq": ("26.2.1", "27.3.0")}
    loaded = {"IPython.core.interactiveshell": object(), "zmq": object()}
    assert platform.modules_needing_restart(changes, loaded=loaded, owners=OWNERS) == ["ipython", "pyzmq"]


def test_the_install_keeps_torch_and_every_package_the_kernel_has_imported():
    installed = {"torch": "2.8.0+cu126", "torchvision": "0.23.0+cu126", "ipython": "7.34.0", "pyzmq": "26.2.1",
                 "numpy": "2.0.2", "transformers": "4.55.4"}
    loaded = {"IPython": object(), "zmq.sugar": object()}
    assert platform.kept_versions(installed, loaded=loaded, owners=OWNERS) == {
        "torch": "2.8.0+cu126", "torchvision": "0.23.0+cu126", "ipython": "7.34.0", "pyzmq": "26.2.1"}


class FakePip:
    """Stands in for subprocess.run: records each pip call with the constraints it was given."""

    def __init__(self, first_returncode=0, first_stderr=""):
        self.calls, self.first = [], (first_returncode, first_stderr)

    def __call__(self, command, check=False, **kwargs):
        constraints = ""
        if "-c" in command:
            constraints = open(command[command.index("-c") + 1]).read()
        self.calls.append((command, constraints))
        returncode, stderr = self.first if len(self.calls) == 1 else (0, "")
        if check and returncode:
            raise subprocess.CalledProcessError(returncode, command)
        return subprocess.CompletedProcess(command, returncode, "", stderr)


BEFORE = {"torch": "2.8.0", "ipykernel": "6.17.1", "numpy": "2.0.2"}
IMPORTED = {"ipykernel": object()}  # owners from this environment: ipykernel is installed here


def test_install_dependencies_holds_kept_versions_then_adds_opendelta_without_dependencies(capsys):
    pip = FakePip()
    platform.install_dependencies(BEFORE, "opendelta==0.3.2", requirements=["numpy>=1.26,<3"], loaded=IMPORTED, run=pip)
    (first, constraints), (second, _) = pip.calls
    assert first[-1] == "numpy>=1.26,<3" and constraints.splitlines() == ["ipykernel==6.17.1", "torch==2.8.0"]
    assert second[-2:] == ["--no-deps", "opendelta==0.3.2"]
    assert "set-up: installed or changed" in capsys.readouterr().out


@pytest.mark.slow
def test_install_dependencies_lets_an_imported_package_change_when_the_ranges_require_it_and_says_so(capsys):
    pip = FakePip(1, "ERROR: ResolutionImpossible: for help visit ...")
    platform.install_dependencies(BEFORE, "opendelta==0.3.2", requirements=["ipykernel>=7"], loaded=IMPORTED, run=pip)
    (_, kept), (retry, torch_only), (opendelta, _) = pip.calls
    assert "ipykernel==6.17.1" in kept and torch_only.splitlines() == ["torch==2.8.0"]
    assert retry[-1] == "ipykernel>=7" and opendelta[-1] == "opendelta==0.3.2"
    assert "need a package this kernel has already imported to change" in capsys.readouterr().out


def test_install_dependencies_stops_on_any_other_pip_failure():
    pip = FakePip(1, "ERROR: Could not find a version that satisfies the requirement")
    with pytest.raises(subprocess.CalledProcessError):
        platform.install_dependencies(BEFORE, "opendelta==0.3.2", requirements=["x"], loaded=IMPORTED, run=pip)
    assert len(pip.calls) == 1


def test_the_set_up_cell_imports_this_module_before_any_dependency_is_installed():
    probe = ("import sys; started = set(sys.modules); import hwutils.core.platform; "
             "print(sorted({m.partition('.')[0] for m in set(sys.modules) - started} - set(sys.stdlib_module_names)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "['hwutils']", f"hwutils.core.platform imports more than the standard library: {done.stdout}"


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
