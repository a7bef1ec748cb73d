"""The comparison of every recorded method, its figures, and the GPU estimate from the full settings."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from hwutils.core.profiles import profile_table  # noqa: E402
from hwutils.llm import reporting  # noqa: E402


def test_comparison_rows_show_training_cost_or_else_scoring_cost():
    methods = {
        "icl_label_words_0_shot": {"metrics": {"accuracy": 0.4, "macro_f1": 0.3}, "trainable_parameters": 0,
                                   "scoring": {"wall_time_s": 2.0, "peak_memory_mb": 10.0}},
        "qlora_sft": {"metrics": {"accuracy": 0.8, "macro_f1": 0.79}, "trainable_parameters": 100,
                      "final_training_loss": 0.25, "train": {"wall_time_s": 50.0, "peak_memory_mb": 30.0}, "scoring": {"wall_time_s": 1.0, "peak_memory_mb": 5.0}},
    }
    icl, sft = reporting.comparison_rows(methods)
    assert (icl["method"], icl["time (s)"], icl["time of"], icl["peak memory (MB)"]) == ("icl_label_words_0_shot", 2.0, "scoring", 10.0)
    assert (sft["time (s)"], sft["time of"], sft["trainable parameters"], sft["accuracy"]) == (50.0, "training", 100, 0.8)
    assert sft["final training loss"] == 0.25 and icl["final training loss"] != icl["final training loss"]  # NaN: trains nothing


def test_gpu_estimate_counts_prompt_and_training_tokens():
    full = {"prompt_shots": [0, 1, 3], "prompt_styles": ["a", "b"], "test_examples": 100, "train_examples": 1000, "qlora_sft_epochs": 2, "head_epochs": 2,
            "full_tokens_per_example": 50, "gpu_inference_tokens_per_s": 1000.0, "gpu_train_tokens_per_s": 100.0}
    estimate = reporting.gpu_estimate(full, labels=3)
    assert estimate["icl_scoring_tokens"] == 100 * (1 + 2 + 4) * 2 * 50 * 3  # every prompt's examples, once per label
    assert estimate["training_tokens"] == 2 * 1000 * 2 * 50  # SFT and the head
    assert estimate["total_minutes"] == pytest.approx(1.5 * (210_000 / 1000 + 200_000 / 100) / 60)


def test_gpu_estimate_reads_the_notebooks_full_settings():
    estimate = reporting.gpu_estimate(profile_table("03_llama_mnli")["full"])
    assert 10 < estimate["total_minutes"] < 24 * 60


def test_figures_have_a_panel_per_view():
    rows = [{"method": "a", "accuracy": 0.5}, {"method": "b", "accuracy": 0.9}]
    assert len(reporting.accuracy_bars(rows, chance=1 / 3).axes) == 1
    losses = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]
    figure = reporting.training_figure(losses, "loss", [0, 1, 2], {"last": [0, 1, 2], "first": [0, 0, 0]})
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[0] == "loss" and "last, accuracy 1.000" in titles and "first, accuracy 0.333" in titles
