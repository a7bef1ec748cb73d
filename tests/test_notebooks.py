"""Every notebook in notebooks/ executes in the smoke profile and honours the results contract.

Parametrised over the folder's contents, so a new notebook is tested without editing this file.
"""

from __future__ import annotations

import json
import re

import pytest

from hwutils.batch.runner import discover_notebooks
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
    first = code_cells[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), f"{path.name}: first code cell must be tagged 'parameters'"
    source = "".join(first["source"])
    for parameter in ("PROFILE", "SEED", "OUTPUT_DIR", "OVERRIDES"):
        assert f"{parameter} =" in source, f"{path.name}: parameters cell lacks {parameter}"
    assert not re.search(r"^\s*\w*token\w*\s*=", source, re.IGNORECASE | re.MULTILINE), \
        f"{path.name}: a Hub token must never be a notebook parameter (papermill writes parameters into the output)"
    assert name in available_notebooks(), f"{path.name} has no hwutils/settings/{name}.toml"
