"""Notebook 03 (LLaMA on MNLI): what its smoke run must show, read from its results.json."""

from __future__ import annotations

import pytest

NAME = "03_llama_mnli"
pytestmark = pytest.mark.notebook
CHANCE = 1 / 3


@pytest.fixture(scope="module")
def run(smoke_run):
    outcome = smoke_run(NAME)
    assert outcome.ok, outcome.error
    return outcome


def test_smoke_run_is_within_its_time_budget(run):
    assert run.seconds < 240, f"smoke run took {run.seconds:.0f} s (hard limit 4 minutes)"


def test_qlora_sft_and_the_classification_head_beat_chance(run):
    for method in ("qlora_sft", "qlora_head_last_token"):
        accuracy = run.method(method)["metrics"]["accuracy"]
        assert accuracy > CHANCE + 0.15, f"{method}: accuracy {accuracy:.3f} on the held-out split"
    assert run.method("qlora_sft")["metrics"]["accuracy"] > run.method("qlora_sft")["zero_shot_accuracy_before"]


def test_the_scoring_reader_never_yields_an_unparseable_answer(run):
    icl = [record for name, record in run.results["methods"].items() if name.startswith("icl_")]
    assert len(icl) >= 5  # zero- and one-shot in both styles, plus few-shot extras
    assert all(record["metrics"]["unparseable_scoring"] == 0 for record in icl)
    assert run.method("qlora_sft")["unparseable_share"] == 0
    shares = [record["metrics"]["unparseable_generation"] for record in icl]
    assert all(0 <= share <= 1 for share in shares)  # generation's share is reported, whatever it is


def test_merged_and_adapter_models_agree_and_the_naive_4bit_merge_drifts(run):
    merging = run.results["merging"]
    assert merging["max_abs_logit_diff_merged"] < 1e-3, merging
    assert merging["merged_prediction_agreement"] == 1.0
    assert merging["max_abs_logit_diff_naive_4bit"] > 100 * merging["max_abs_logit_diff_merged"]
    assert merging["naive_weight_error_relative"] > 0.05 > merging["merged_weight_error_relative"]
    assert run.method("qlora_sft_merged")["metrics"] == run.method("qlora_sft")["metrics"]


def test_first_token_pooling_is_chance_and_last_token_is_not(run):
    first = run.method("qlora_head_first_token")
    assert first["classes_predicted"] == 1 and first["first_token_logit_spread"] < 1e-4
    assert abs(first["metrics"]["accuracy"] - CHANCE) < 0.01  # a constant prediction on a balanced split
    probes = {row["pooling"]: row for row in run.results["pooling"]["probes"]}
    assert probes["first token"]["classes predicted"] == 1 and probes["last token"]["accuracy"] > CHANCE + 0.15


def test_parameter_counts_analytic_equal_counted(run):
    parameters = run.results["parameters"]
    llama = parameters["llama_3_8b"]
    assert llama["lora_analytic"] == llama["lora_counted"] == 32_505_856
    assert llama["total_analytic"] == llama["total_counted"] == 8_030_261_248
    assert llama["total_with_lora"] == llama["total_counted"] + llama["lora_counted"]
    this = parameters["this_model"]
    assert this["lora_analytic"] == this["lora_counted"] == run.method("qlora_sft")["trainable_parameters"]
    assert this["head_analytic"] == this["head_counted"]


def test_the_model_was_loaded_in_4bit(run):
    quantization = run.results["quantization"]
    assert quantization["four_bit"], quantization["note"]
    assert quantization["llama_3_8b_nf4_gb"] < 6 < 16 < quantization["llama_3_8b_bf16_gb"]
