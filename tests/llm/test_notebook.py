"""Notebook 03 (LLaMA on MNLI): what its smoke run must show, read from its results.json."""

from __future__ import annotations

import pytest

from hwutils.core.results import validate

NAME = "03_llama_mnli"
pytestmark = pytest.mark.notebook
CHANCE = 1 / 3
PROMPTS = [f"icl_{style}_{shots}_shot" for style in ("label_words", "yes_maybe_no") for shots in (0, 1, 3)]


@pytest.fixture(scope="module")
def run(smoke_run):
    outcome = smoke_run(NAME)
    assert outcome.ok, outcome.error
    return outcome


def test_results_follow_the_contract_and_the_headline_is_qlora_sft_accuracy(run):
    assert validate(run.results) == []
    accuracy = run.method("qlora_sft")["metrics"]["accuracy"]
    assert run.results["headline"] == {"method": "qlora_sft", "metric": "accuracy", "value": accuracy}
    assert set(run.results["methods"]) == {*PROMPTS, "qlora_sft", "qlora_merged", "probe_first_token", "probe_last_token",
                                           "head_last_token", "head_first_token"}


def test_every_numerical_check_of_the_notebook_passed(run):
    checks = run.results["checks"]
    for name in ("lora_analytic_equals_counted", "llama_3_8b_lora_analytic_equals_counted", "llama_3_8b_analytic_equals_counted",
                 "merged_matches_adapter", "head_analytic_equals_counted", "last_token_pooling_matches_the_model"):
        assert checks[name]["passed"], (name, checks[name])


def test_qlora_sft_and_the_classification_head_beat_chance(run):
    for method in ("qlora_sft", "head_last_token"):
        accuracy = run.method(method)["metrics"]["accuracy"]
        assert accuracy > CHANCE + 0.15, f"{method}: accuracy {accuracy:.3f} on the held-out split"
    assert run.method("qlora_sft")["metrics"]["accuracy"] > run.method("qlora_sft")["zero_shot_accuracy_before"]


def test_the_scoring_reader_never_yields_an_unparseable_answer(run):
    icl = [run.method(key) for key in PROMPTS]
    assert all(record["metrics"]["unparseable_scoring"] == 0 for record in icl)
    assert run.method("qlora_sft")["unparseable_share"] == 0
    shares = [record["metrics"]["unparseable_generation"] for record in icl]
    assert all(0 <= share <= 1 for share in shares)  # generation's share is reported, whatever it is
    assert "demo_label_share" in run.method("icl_label_words_1_shot") and "scoring" in run.method("icl_label_words_3_shot")


def test_merged_and_adapter_models_agree_and_the_naive_4bit_merge_drifts(run):
    merging = run.results["merging"]
    assert merging["merged_prediction_agreement"] == 1.0
    assert merging["max_abs_label_score_diff_naive_4bit"] > 100 * merging["max_abs_label_score_diff_merged"]
    assert merging["naive_weight_error_relative"] > 0.05 > merging["merged_weight_error_relative"]
    assert run.method("qlora_merged")["metrics"] == run.method("qlora_sft")["metrics"]


def test_first_token_pooling_is_chance_and_last_token_is_not(run):
    first = run.method("head_first_token")
    assert first["classes_predicted"] == 1 and first["first_token_logit_spread"] < 1e-4
    assert abs(first["metrics"]["accuracy"] - CHANCE) < 0.01  # a constant prediction on a balanced split
    assert run.method("probe_first_token")["classes_predicted"] == 1
    assert run.method("probe_last_token")["metrics"]["accuracy"] > CHANCE + 0.15


def test_llama_3_8b_counts_are_the_known_figures(run):
    llama = run.results["parameters"]["llama_3_8b"]
    assert llama["lora_analytic"] == 32_505_856 and llama["total_analytic"] == 8_030_261_248
    assert llama["total_with_lora"] == llama["total_counted"] + llama["lora_counted"]
    head, sft = run.method("head_last_token"), run.method("qlora_sft")
    assert head["trainable_parameters"] > sft["trainable_parameters"]  # the head's matrix comes on top of the same LoRA


def test_the_model_was_loaded_in_4bit(run):
    quantization = run.results["quantization"]
    assert quantization["four_bit"], quantization["note"]
    assert quantization["llama_3_8b_nf4_gb"] < 6 < 16 < quantization["llama_3_8b_bf16_gb"]
