"""Notebook 03 (LLaMA on MNLI): what its smoke run must show, read from its results.json."""

from __future__ import annotations

import pytest

from hwutils.core.results import validate

NAME = "03_llama_mnli"
pytestmark = pytest.mark.notebook
CHANCE = 1 / 3
PROMPTS = [f"icl_{style}_{shots}_shot" for style in ("label_words", "yes_maybe_no") for shots in (0, 1, 3)]
# What only the full profile does, switched on in one small CPU run (paged 8-bit AdamW and CUDA 4-bit cannot run here).
FULL_BRANCHES = {
    "precision": "bfloat16",  # the Trainer's bf16 mixed precision, bf16 4-bit compute and a bf16 merge (an L4's or A100's path)
    "gradient_checkpointing": True,  # prepare_model_for_kbit_training's recomputation, for SFT and the head
    "prompt_styles": ["true_false"], "sft_style": "true_false",  # answer words of several tokens, as Llama-3's " entailment"
    "prompt_shots": [0, 1],
    "merged_precision": "nf4",  # a T4's path: the merged model too large for 16 bits, re-quantised to NF4 when loaded
    "keep_merged": True,
    "merge_tolerance": 0.25,  # as the full profile: a bf16 merge
    "test_examples": 60, "train_examples": 120, "probe_train_examples": 60, "qlora_sft_epochs": 1, "head_epochs": 1,
    "checkpoint_every": 3,
}


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


def test_qlora_sft_beats_chance_and_its_zero_shot_prompt(run):
    sft = run.method("qlora_sft")
    assert sft["metrics"]["accuracy"] > CHANCE + 0.1, f"qlora_sft: accuracy {sft['metrics']['accuracy']:.3f} on the held-out split"
    assert sft["metrics"]["accuracy"] > sft["zero_shot_accuracy_before"] + 0.05


def test_every_prompt_records_its_readers(run):
    icl = [run.method(key) for key in PROMPTS]
    assert all(0 <= record["metrics"]["unparseable_generation"] <= 1 for record in icl)  # reported, whatever it is
    assert all(0 <= record["metrics"]["calibrated_accuracy"] <= 1 for record in icl)
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
    assert run.method("probe_last_token")["metrics"]["accuracy"] > CHANCE + 0.07  # the frozen last-token state carries the pair


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


def test_trained_methods_record_their_loss_and_a_fresh_start(run):
    for method in ("qlora_sft", "head_last_token"):
        record = run.method(method)
        assert record["resumed_from_step"] == 0 and record["final_training_loss"] > 0
    assert run.results["merging"]["merged_loaded_as"] == "float32"  # the CPU holds the merged model unquantised
    assert len(run.results["preflight"]) == 3 * 3  # three workloads on a T4, an L4 and an A100
    assert all(row["fits"] == "yes" for row in run.results["preflight"] if row["GPU"].startswith("T4"))


@pytest.fixture(scope="module")
def branches(smoke_run):
    outcome = smoke_run(NAME, tag="full_branches", overrides=FULL_BRANCHES)
    assert outcome.ok, outcome.error
    return outcome


def test_the_full_profiles_branches_run_on_the_cpu(branches):
    results = branches.results
    assert validate(results) == [] and results["precision"] == "bfloat16"
    assert results["settings"]["gradient_checkpointing"] is True
    assert set(results["methods"]) >= {"icl_true_false_0_shot", "icl_true_false_1_shot", "qlora_sft", "qlora_merged", "head_last_token"}
    for record in results["methods"].values():
        assert 0 <= record["metrics"]["accuracy"] <= 1
    for method in ("qlora_sft", "head_last_token"):  # one epoch of 120 examples in batches of 16, checkpointed every 3 steps
        assert results["methods"][method]["train"]["steps"] == 8 and results["methods"][method]["final_training_loss"] > 0
    merging = results["merging"]
    assert merging["merged_loaded_as"].startswith("NF4") and "merged_matches_adapter" not in results["checks"]
    assert merging["merged_weight_error_relative"] > 0.05  # re-quantised: the rounding the naive merge suffers too
    assert (branches.output_dir / "sft_merged" / "config.json").exists()  # keep_merged
    checkpoints = list((branches.output_dir / "trainer").glob("qlora_sft-*/checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-8"]  # only the last checkpoint is kept
