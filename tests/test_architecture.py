"""The folder tree is the architecture: a core that imports no topic package, topic packages that
import the core and nothing of each other, a batch runner above them, no import cycles, and tests
that mirror the tree. Read from the source (every ``import`` statement, at any depth), not from
what happens to be imported at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hwutils

PACKAGE = Path(hwutils.__file__).parent
TESTS = Path(__file__).parent
LAYERS_ABOVE_TOPICS = {"batch"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every hwutils module ``path`` imports (``from hwutils.x import y`` counts ``hwutils.x.y``
    when that is a module, else ``hwutils.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("hwutils")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hwutils"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def area(module: str) -> str:
    """``core``, ``batch``, a topic package's name, or ``root`` (hwutils itself, __main__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "root"


TOPICS = sorted({area(m) for m in MODULES} - {"core", "root"} - LAYERS_ABOVE_TOPICS)


def violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in graph.items():
        for target in imported:
            source_area, target_area = area(module), area(target)
            if source_area == "core" and target_area not in ("core", "root"):
                problems.append(f"core module {module} imports {target}")
            elif source_area in TOPICS and target_area in TOPICS and target_area != source_area:
                problems.append(f"topic package {source_area} imports another topic package: {module} -> {target}")
            elif target_area in LAYERS_ABOVE_TOPICS and source_area not in LAYERS_ABOVE_TOPICS | {"root"}:
                problems.append(f"{module} imports the batch runner ({target})")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_there_are_a_core_and_topic_packages():
    assert "core" in {area(m) for m in MODULES}
    assert len(TOPICS) >= 6, TOPICS


def test_core_imports_no_topic_package_and_topics_do_not_import_each_other():
    assert violations(GRAPH) == []


def test_no_import_cycles():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("graph, expected", [
    ({"hwutils.core.run": {"hwutils.llm.prompts"}, "hwutils.llm.prompts": set()}, "core module"),
    ({"hwutils.clip.heads": {"hwutils.vision.images"}, "hwutils.vision.images": set()}, "another topic package"),
    ({"hwutils.clip.heads": {"hwutils.batch.runner"}, "hwutils.batch.runner": set()}, "batch runner"),
])
def test_the_checks_catch_each_kind_of_violation(graph, expected):
    assert any(expected in problem for problem in violations(graph))


def test_the_cycle_check_catches_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_tests_mirror_the_tree():
    """Every package folder of hwutils has a test folder of the same name, and no test folder
    names a package that does not exist."""
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    test_folders = {p.name for p in TESTS.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= test_folders, f"packages without a test folder: {sorted(packages - test_folders)}"
    assert test_folders <= packages, f"test folders without a package: {sorted(test_folders - packages)}"


def test_every_settings_file_names_an_existing_topic_package():
    from hwutils.core.profiles import available_notebooks, notebook_info

    for notebook in available_notebooks():
        info = notebook_info(notebook)
        assert info.topic in TOPICS, f"{notebook}: topic {info.topic!r} is not a topic package ({', '.join(TOPICS)})"
        assert info.headline_method and info.headline_metric, f"{notebook}: the [notebook] table needs a headline"
