"""Notebook 05 (CLIP on Stanford Dogs): learning beats chance, the per-class table is complete,
the feature cache is reused on a second run."""

from __future__ import annotations

import shutil

import pytest

NAME = "05_clip_dogs"
pytestmark = pytest.mark.notebook


def test_smoke_run_is_fast_and_every_classifier_beats_chance(smoke_run):
    run = smoke_run(NAME)
    assert run.ok, run.error
    assert run.seconds < 120, f"smoke run took {run.seconds:.0f} s (the issue's limit is 2 minutes)"
    chance = run.results["chance"]
    assert chance == pytest.approx(1 / len(run.results["classes"]))
    for method in ("class_embeddings", "linear_probe"):  # trained by the notebook, scored on the held-out test split
        assert run.method(method)["metrics"]["top1"] > 2 * chance, (method, run.method(method)["metrics"])
    for method in ("zero_shot_base_ensemble", "zero_shot_xxlarge_ensemble", "coop_context"):
        assert run.method(method)["metrics"]["top1"] > chance, (method, run.method(method)["metrics"])


def test_per_class_table_covers_every_class(smoke_run):
    results = smoke_run(NAME).results
    table = results["per_class"]
    assert sorted(row["class"] for row in table) == sorted(results["classes"])
    assert sum(row["support"] for row in table) == results["feature_cache"][1]["examples"]  # every test image
    f1 = [row["f1"] for row in table]
    assert results["worst_class"]["class"] == table[f1.index(min(f1))]["class"]
    assert all(0 <= row[k] <= 1 for row in table for k in ("precision", "recall", "f1", "accuracy"))


def test_parameter_counts_and_choices_recorded(smoke_run):
    results = smoke_run(NAME).results
    n_classes = len(results["classes"])
    dim = results["feature_cache"][0]["dim"]
    assert results["methods"]["class_embeddings"]["trainable_parameters"] == n_classes * dim
    assert results["methods"]["linear_probe"]["trainable_parameters"] == n_classes * dim + n_classes
    assert results["methods"]["linear_probe"]["weight_decay"] in results["settings"]["weight_decays"]
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
    second = smoke_run(NAME, tag="rerun", output_dir=same_dir)
    assert second.ok, second.error
    assert all(row["reused"] for row in second.results["feature_cache"]), second.results["feature_cache"]
    first_s = sum(row["seconds_this_run"] for row in first.results["feature_cache"])
    second_s = sum(row["seconds_this_run"] for row in second.results["feature_cache"])
    assert second_s < first_s / 2, (first_s, second_s)
    for name, record in first.results["methods"].items():  # same features, same seed: same numbers
        assert second.results["methods"][name]["metrics"] == record["metrics"], name
