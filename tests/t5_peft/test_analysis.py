"""hwutils.t5_peft.analysis: the facts the notebook's analysis states, computed from the outcomes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwutils.core.models import ParameterCount
from hwutils.core.training import RunStats, TrainResult
from hwutils.t5_peft import analysis
from hwutils.t5_peft.methods import Method
from hwutils.t5_peft.recipe import Evaluation, MethodOutcome


def outcome(key: str, accuracy: float, trainable: int, samples_per_s: float = 100.0, resumed: int = 0) -> MethodOutcome:
    family, _, implementation = key.rpartition("_") if key != "full_ft" else ("full_ft", "", "pytorch")
    variant = ""
    if key == "prompt_tuning_random_init":
        family, implementation, variant = "prompt_tuning", "scratch", "random_init"
    stats = RunStats(wall_time_s=10.0, samples=int(10 * samples_per_s), steps=20)
    training = TrainResult(losses=[{"step": s, "loss": 2.0 / s, "lr": 0.1} for s in range(1, 21)],
                           evals=[{"step": 0, "val_accuracy": 0.5}, {"step": 20, "val_accuracy": accuracy}], stats=stats,
                           resumed_from_step=resumed)
    evaluation = Evaluation(accuracy, accuracy, np.zeros(4, dtype=int), {"agrees_with_scoring": 1.0}, torch.zeros(1, 2))
    return MethodOutcome(Method(key, family, implementation, 0.1, None, variant), training, evaluation,
                         ParameterCount(total=1000, trainable=trainable))


OUTCOMES = {o.method.key: o for o in [
    outcome("full_ft", 0.95, 1000, samples_per_s=100),
    outcome("prompt_tuning_scratch", 0.70, 10), outcome("prompt_tuning_peft", 0.70, 10),
    outcome("prompt_tuning_opendelta", 0.60, 10, samples_per_s=300), outcome("prompt_tuning_random_init", 0.52, 10),
    outcome("adapter_scratch", 0.945, 50), outcome("adapter_adapters", 0.90, 50), outcome("adapter_opendelta", 0.92, 50),
    outcome("lora_scratch", 0.96, 80), outcome("lora_peft", 0.95, 80), outcome("lora_opendelta", 0.958, 80),
]}


def test_findings_name_the_winners_and_the_gaps():
    found = analysis.findings(OUTCOMES, zero_shot_accuracy=0.65)
    assert found.best == found.best_peft == "lora_scratch"
    assert found.cheapest_close == "adapter_scratch", "fewest parameters within one point of full fine-tuning"
    assert found.family_best == {"full_ft": 0.95, "prompt_tuning": 0.70, "adapter": 0.945, "lora": 0.96}
    assert found.spreads == pytest.approx({"prompt_tuning": 0.10, "adapter": 0.045, "lora": 0.01})
    assert found.widest == "prompt_tuning"
    assert found.identical_twins == {"prompt_tuning": True, "lora": False}
    assert "prompt_tuning_opendelta" not in found.beat_zero_shot and len(found.beat_zero_shot) == 9
    assert found.peft_speed == pytest.approx((9 * 100 + 300) / 10)
    assert found.at_chance == [], "no margin: only exactly 50% would be chance"
    assert analysis.findings(OUTCOMES, 0.65, margin=0.03).at_chance == ["prompt_tuning_random_init"]
    assert "adapter_adapters" not in analysis.findings(OUTCOMES, 0.65, margin=0.3).beat_zero_shot


def test_the_ablation_is_left_out_of_the_comparison_of_implementations():
    assert analysis.family_accuracies(OUTCOMES, "prompt_tuning") == {"scratch": 0.70, "peft": 0.70, "opendelta": 0.60}


def test_the_ablation_is_worded_from_its_values_and_margin():
    result = analysis.ablation(OUTCOMES, n=500)
    assert (result.text_init, result.random_init) == (0.70, 0.52)
    assert result.margin == pytest.approx(analysis.difference_margin(500)) == pytest.approx(3 * (0.5 / 500) ** 0.5)
    assert "worth 18.0 points" in analysis.describe_ablation(result)
    close = analysis.Ablation(0.70, 0.68, 0.09, (1.0, 1.0), (0.5, 0.5))
    assert "within the ±9.0 points" in analysis.describe_ablation(close)
    better = analysis.Ablation(0.50, 0.70, 0.09, (1.0, 1.0), (0.5, 0.5))
    assert "random vectors do 20.0 points better" in analysis.describe_ablation(better)


def test_chance_margin_is_three_standard_errors_of_a_coin():
    assert analysis.chance_margin(500) == pytest.approx(3 * 0.5 / 500 ** 0.5)


def test_resumption_is_described_run_by_run():
    runs = {"full_ft": outcome("full_ft", 0.9, 1000, resumed=20), "lora_scratch": outcome("lora_scratch", 0.9, 80, resumed=10),
            "lora_peft": outcome("lora_peft", 0.9, 80)}
    text = analysis.describe_resumption(runs)
    assert text == ("**1 trained from the start**: lora_peft; **1 resumed from a checkpoint**: lora_scratch (step 10); "
                    "**1 reused (finished before, not trained now)**: full_ft.")
    assert analysis.describe_resumption({"lora_peft": runs["lora_peft"]}) == "**1 trained from the start**."


def test_no_run_close_to_full_finetuning_is_said_so():
    worse = {key: outcome(key, o.accuracy - (0.1 if key != "full_ft" else 0), o.trainable) for key, o in OUTCOMES.items()}
    assert analysis.findings(worse, 0.5).cheapest_close is None


def test_result_rows_start_with_the_frozen_model_and_count_optimizer_state():
    rows = analysis.result_rows(OUTCOMES, 0.65, 0.6)
    assert rows[0]["method"].startswith("zero-shot") and [r["method"] for r in rows[1:]] == list(OUTCOMES)
    assert rows[1]["grad + Adam state (MB)"] == pytest.approx(3 * 4 * 1000 / 2**20)


def test_compared_words_the_order_both_ways():
    assert [analysis.compared(a, 0.8) for a in (0.7, 0.8, 0.9)] == ["trails", "matches", "is ahead of"]
    assert analysis.compared(0.82, 0.8, margin=0.05) == "is within ±5.0 points of"
    assert analysis.compared(0.9, 0.8, margin=0.05) == "is ahead of"
