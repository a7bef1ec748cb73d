"""The set-up files agree: pyproject.toml's ranges contain the lock, environment.yml mirrors the
lock, the Makefile installs the lock, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        match = PIN.match(line.strip().lstrip("-").strip())
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def lock_pins() -> dict[str, str]:
    return pins(line for line in (ROOT / "requirements.lock").read_text().splitlines() if not line.startswith("#"))


def environment_pins() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    no_deps = [line.split("no-deps:", 1)[1] for line in lines if line.startswith("# no-deps:")]
    return pins([line for line in lines if not line.lstrip().startswith("#")] + no_deps)


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared_requirements() -> list[Requirement]:
    extras = project()["optional-dependencies"]
    return [Requirement(d) for d in project()["dependencies"] + [d for group in extras.values() for d in group]]


def test_pyproject_declares_ranges_not_exact_pins():
    exact = [str(r) for r in declared_requirements() if any(s.operator == "==" for s in r.specifier)]
    assert exact == [], f"pyproject.toml pins exactly (use a range; exact versions live in the lock): {exact}"


@pytest.mark.parametrize("requirement", declared_requirements(), ids=str)
def test_the_lock_satisfies_every_declared_range(requirement):
    locked = lock_pins()
    name = canonicalize_name(requirement.name)
    assert name in locked, f"{name} is declared in pyproject.toml but missing from requirements.lock"
    assert requirement.specifier.contains(locked[name], prereleases=True), \
        f"requirements.lock has {name}=={locked[name]}, outside pyproject's {requirement.specifier}"


def test_environment_yml_mirrors_the_lock():
    assert environment_pins() == lock_pins()


def test_the_range_check_would_catch_a_lock_outside_a_range():
    assert not Requirement("numpy>=1.26,<3").specifier.contains("3.0.1")


def test_makefile_installs_from_the_lock_and_opendelta_without_dependencies():
    makefile = (ROOT / "Makefile").read_text()
    assert "-c $(LOCK)" in makefile and "LOCK   := requirements.lock" in makefile
    assert "--no-deps $$(grep '^opendelta==' $(LOCK))" in makefile
    assert "opendelta" in lock_pins()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make run" in readme
