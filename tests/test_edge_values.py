"""Every notebook runs at the edge values a user is likely to pick, or fails with one clear line.

Each settings file's ``[edge]`` table holds such values (one prompt style, zero-shot only, one
epoch, a single class subset, the smallest sizes); the notebook runs once in the smoke profile with
all of them as OVERRIDES. A notebook whose edge values are invalid on purpose lists the one-line
error it must give under ``[edge_error]`` instead.
"""

from __future__ import annotations

import tomllib

import pytest

from hwutils.batch.runner import discover_notebooks
from hwutils.core.profiles import SETTINGS_DIR

NOTEBOOKS = [p.stem for p in discover_notebooks()]


def edge_table(name: str) -> dict:
    return tomllib.loads((SETTINGS_DIR / f"{name}.toml").read_text()).get("edge", {})


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_names_its_edge_values(name):
    assert edge_table(name), f"hwutils/settings/{name}.toml has no [edge] table of edge values to run"


@pytest.mark.notebook
@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if edge_table(n)])
def test_notebook_runs_at_its_edge_values(smoke_run, name):
    run = smoke_run(name, tag="edge", overrides=edge_table(name))
    assert run.ok, f"{name} with {edge_table(name)} failed: {run.error}"
    assert run.results and run.results["methods"], f"{name} at its edge values recorded no method"


def metrics_of(results: dict) -> dict:
    return {method: record["metrics"] for method, record in results["methods"].items()}


@pytest.mark.notebook
@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if edge_table(n)])
def test_same_seed_gives_the_same_metrics(smoke_run, name):
    """Reproducibility, for every notebook: a second run with the same seed on the same machine
    records the same metrics. It runs at the edge values (the smallest settings), so the check costs
    one short execution per notebook; the code path is the one the smoke profile takes."""
    first = smoke_run(name, tag="edge", overrides=edge_table(name))
    second = smoke_run(name, tag="edge-again", overrides=edge_table(name))
    assert first.ok and second.ok, (first.error, second.error)
    assert metrics_of(second.results) == metrics_of(first.results), f"{name}: the same seed gave different metrics"
