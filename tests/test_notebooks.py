"""Every notebook in notebooks/ executes in the smoke profile and honours the results contract.

Parametrised over the folder's contents, so a new notebook is tested without editing this file.
"""

from __future__ import annotations

import json
import re

import pytest

from hwutils.batch.runner import discover_notebooks
from hwutils.batch.setup_cell import has_current_setup_cell, setup_cell_source
from hwutils.core.profiles import available_notebooks

NOTEBOOKS = [p.stem for p in discover_notebooks()]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes_in_smoke_profile(smoke_run, name):
    run = smoke_run(name)
    assert run.ok, f"{name} failed: {run.error}"
    results = run.results
    assert results is not None, f"{name} wrote no results.json"
    assert results["notebook"] == name
    assert results["profile"] == "smoke"
    assert results["methods"], f"{name} recorded no method"
    for method, record in results["methods"].items():
        assert record["metrics"], f"{name}/{method} has no metrics"
        for key, value in record["metrics"].items():
            assert isinstance(value, (int, float)) and value == value, f"{name}/{method}/{key} = {value!r}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean_and_parameterised(name):
    path = next(p for p in discover_notebooks() if p.stem == name)
    notebook = json.loads(path.read_text())
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code_cells), \
        f"{path.name} is committed with outputs: clear them (executed copies belong in reports/)"
    longest = max(len("".join(c["source"]).splitlines()) for c in code_cells)
    assert longest <= 30, f"{path.name} has a code cell of {longest} lines: move reusable code into its topic package"
    assert has_current_setup_cell(path), f"{path.name}: the first code cell must be the generated set-up cell " \
                                         "(run `hwutils setup-cell --write`)"
    second = code_cells[1]
    assert "parameters" in second.get("metadata", {}).get("tags", []), \
        f"{path.name}: the code cell after the set-up cell must be tagged 'parameters'"
    source = "".join(second["source"])
    for parameter in ("PROFILE", "SEED", "OUTPUT_DIR", "OVERRIDES"):
        assert f"{parameter} =" in source, f"{path.name}: parameters cell lacks {parameter}"
    assert not re.search(r"^\s*\w*token\w*\s*=", source, re.IGNORECASE | re.MULTILINE), \
        f"{path.name}: a Hub token must never be a notebook parameter (papermill writes parameters into the output)"
    assert name in available_notebooks(), f"{path.name} has no hwutils/settings/{name}.toml"


def test_the_set_up_cell_installs_from_the_repository_named_in_pyproject_and_carries_no_token():
    source = setup_cell_source()
    assert "git+https://github.com/" in source and "HWUTILS_SOURCE" in source
    assert "--no-deps" in source and "opendelta==" in source
    assert not re.search(r"hf_[A-Za-z0-9]{10,}", source)


def test_the_readme_links_every_notebook_to_colab_and_kaggle_from_the_repository_address():
    from pathlib import Path

    from hwutils.batch.setup_cell import notebook_links

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert notebook_links(NOTEBOOKS) in readme, "README's Colab/Kaggle table is stale: paste hwutils.batch.setup_cell.notebook_links()"
