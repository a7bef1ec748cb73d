"""The full checkpoint on paper: parameter counts (analytic = meta device) and the T4 estimates."""

from __future__ import annotations

import pytest

from hwutils.core.profiles import profile_table
from hwutils.persian import architecture


@pytest.mark.parametrize("source, total", [("Qwen/Qwen2.5-1.5B-Instruct", 1_543_714_304),
                                           ("Qwen/Qwen2.5-0.5B-Instruct", 494_032_768)])
def test_analytic_counts_equal_the_meta_device_count_and_the_published_size(source, total):
    config = architecture.architecture_config(source)
    parts = architecture.analytic_parameters(config)
    assert parts["total"] == architecture.counted_parameters(config) == total
    assert parts["output layer"] == 0  # tied embeddings
    assert parts["all layers"] == config.num_hidden_layers * parts["one layer"]


def test_the_fixture_model_is_counted_the_same_way(smoke_settings, tiny_lm):
    model, _ = tiny_lm
    config = architecture.architecture_config(smoke_settings.model)
    assert architecture.analytic_parameters(config)["total"] == sum(p.numel() for p in model.parameters())


def test_an_unknown_hub_id_is_not_guessed():
    with pytest.raises(KeyError, match="no published config kept"):
        architecture.architecture_config("someone/some-model")


def test_the_full_profile_fits_a_t4_by_the_estimate_and_takes_minutes_not_hours():
    full = profile_table("09_persian_llm")["full"]
    config = architecture.architecture_config(full["model"])
    total = architecture.counted_parameters(config)
    memory = architecture.t4_memory_rows(config, total, train_batch=full["batch_size"], train_length=full["max_length"] + 40,
                                         eval_batch=full["eval_batch_size"], eval_length=600, generation_sequences=80,
                                         generation_length=900)
    assert memory[0]["estimate_gib"] == pytest.approx(total * 2 / 2**30)
    assert all(r["fits_t4"] for r in memory) and all(r["estimate_gib"] > memory[0]["estimate_gib"] for r in memory[1:])
    times = architecture.t4_time_rows(total, architecture.full_run_phases(full), utilisation=0.35, bandwidth_efficiency=0.6)
    assert len(times) == 4 and 60 < sum(r["estimate_s"] for r in times) < 3 * 3600


def test_time_grows_with_the_work_and_shrinks_with_efficiency():
    phases = {"a": {"forward_tokens": 1e6}, "b": {"forward_tokens": 1e6, "backward_tokens": 1e6}, "c": {"decode_steps": 100}}
    slow = {r["phase"]: r["estimate_s"] for r in architecture.t4_time_rows(10**9, phases, 0.2, 0.5)}
    fast = {r["phase"]: r["estimate_s"] for r in architecture.t4_time_rows(10**9, phases, 0.4, 1.0)}
    assert slow["b"] == pytest.approx(2 * slow["a"]) and fast["a"] == pytest.approx(slow["a"] / 2)
    assert slow["c"] == pytest.approx(100 * 2e9 / (320e9 * 0.5)) and fast["c"] == pytest.approx(slow["c"] / 2)
