"""Notebook 05 (CLIP on Stanford Dogs): learning beats chance, the per-class table is complete,
the feature cache is reused on a second run."""

from __future__ import annotations

import shutil

import pytest

from hwutils.core.results import validate

NAME = "05_clip_dogs"
pytestmark = pytest.mark.notebook


def test_smoke_run_writes_valid_results_and_every_classifier_beats_chance(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    assert validate(run.results) == []
    headline = run.results["headline"]
    assert headline == {"method": "zero_shot_base_clip_template", "metric": "accuracy",
                        "value": run.method("zero_shot_base_clip_template")["metrics"]["accuracy"]}
    chance = run.results["data"]["chance"]
    assert chance == pytest.approx(1 / len(run.results["data"]["classes"]))
    for method in ("class_embeddings", "linear_probe"):  # trained by the notebook, scored on the held-out test split
        assert run.method(method)["metrics"]["accuracy"] > 2 * chance, (method, run.method(method)["metrics"])
    for method in ("zero_shot_base_ensemble", "zero_shot_xxlarge_ensemble", "coop_context"):
        assert run.method(method)["metrics"]["accuracy"] > chance, (method, run.method(method)["metrics"])
    for name, method in run.results["methods"].items():
        assert method["metrics"]["accuracy"] <= method["metrics"].get("top5_accuracy", 1.0), name


def test_the_notebook_checks_pass(smoke_run):
    checks = smoke_run(NAME).results["checks"]
    assert checks["class_embeddings_start_at_zero_shot_accuracy"]["passed"] is True
    assert checks["coop_starts_as_its_init_prompt"]["passed"] is True


def test_per_class_table_covers_every_class(smoke_run):
    results = smoke_run(NAME).results
    table = results["per_class"]
    assert sorted(row["class"] for row in table) == sorted(results["data"]["classes"])
    assert sum(row["support"] for row in table) == results["data"]["test_images"] == results["feature_cache"][1]["examples"]
    f1 = [row["f1"] for row in table]
    assert results["worst_class"]["class"] == table[f1.index(min(f1))]["class"]
    assert all(0 <= row[k] <= 1 for row in table for k in ("precision", "recall", "f1", "accuracy"))


def test_parameter_counts_and_choices_recorded(smoke_run):
    results = smoke_run(NAME).results
    n_classes = len(results["data"]["classes"])
    dim = results["feature_cache"][0]["dim"]
    methods = results["methods"]
    assert methods["class_embeddings"]["trainable_parameters"] == n_classes * dim
    assert methods["linear_probe"]["trainable_parameters"] == n_classes * dim + n_classes
    assert methods["coop_context"]["trainable_parameters"] == results["settings"]["prompt_tokens"] * dim
    assert methods["linear_probe"]["weight_decay"] in results["settings"]["weight_decays"]
    assert all(methods[name]["trainable_parameters"] == 0 and methods[name]["labelled_images"] == 0
               for name in methods if name.startswith("zero_shot") and not name.endswith("class_prompt"))
    search = results["worst_class"]["prompt_search"]
    assert results["worst_class"]["chosen"]["f1"] == max(row["f1"] for row in search)  # chosen on validation
    shots = [row["shots"] for row in results["few_shot"]]
    assert shots.count("all") == 2 and len(shots) == 2 * len(results["settings"]["few_shot"])
    assert [m["model"] for m in results["models"]] == ["ConvNeXt-Base", "ConvNeXt-XXLarge"]


def test_second_run_reuses_the_feature_cache(smoke_run, tmp_path):
    first = smoke_run(NAME)
    assert first.ok, first.error
    assert not any(row["reused"] for row in first.results["feature_cache"])  # a fresh output folder
    same_dir = shutil.copytree(first.output_dir, tmp_path / "same-output-dir")  # a copy: other tests read the original
    cache_files = sorted((same_dir / "features").glob("*.pt"))
    assert len(cache_files) == len(first.results["feature_cache"]) == 3
    written = {path.name: path.stat().st_mtime_ns for path in cache_files}
    second = smoke_run(NAME, tag="rerun", output_dir=same_dir)
    assert second.ok, second.error
    assert all(row["reused"] for row in second.results["feature_cache"]), second.results["feature_cache"]
    assert {path.name: path.stat().st_mtime_ns for path in cache_files} == written  # read, never rewritten
    assert [row["encode_s"] for row in second.results["feature_cache"]] == [row["encode_s"] for row in first.results["feature_cache"]]
    for name, record in first.results["methods"].items():  # same features, same seed: same numbers
        assert second.results["methods"][name]["metrics"] == record["metrics"], name
