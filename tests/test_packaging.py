"""The set-up files agree with each other, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        match = PIN.match(line.strip().lstrip("-").strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return pins(project["dependencies"] + project["optional-dependencies"]["dev"])


def makefile_pins() -> dict[str, str]:
    text = (ROOT / "Makefile").read_text()
    return pins(re.findall(r"[\w.\-]+==[\w.]+", " ".join(re.findall(r"^(?:TORCH_PINS|NO_DEPS_PINS)\s*:=(.*)$", text, re.M))))


def environment_pins() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    no_deps = [line.split("no-deps:", 1)[1] for line in lines if line.startswith("# no-deps:")]
    return pins([line for line in lines if not line.lstrip().startswith("#")] + no_deps)


def test_environment_yml_pins_the_same_versions_as_pyproject_and_makefile():
    expected = {**pyproject_pins(), **makefile_pins()}
    assert environment_pins() == expected


def test_every_exact_dependency_is_pinned_except_the_torch_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    unpinned = [d for d in project["dependencies"] if "==" not in d]
    assert sorted(d.split(">")[0] for d in unpinned) == ["torch", "torchvision"]


def test_makefile_torch_pins_satisfy_pyproject_ranges():
    from packaging.requirements import Requirement

    ranges = {Requirement(d).name: Requirement(d).specifier for d in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    for name, version in makefile_pins().items():
        if name in ranges:
            assert version in ranges[name], f"{name}=={version} is outside pyproject's {ranges[name]}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make run" in readme
