"""hwutils.t5_peft.recipe: the data, the shared training recipe, and the life of one method's run."""

from __future__ import annotations

import json

import pytest
from transformers import AutoConfig

from hwutils.core.profiles import load_settings
from hwutils.t5_peft import lora, recipe

NAME = "01_t5_imdb"
TINY = {"max_steps": 6, "eval_every": 3, "train_examples": 48, "validation_examples": 16, "test_examples": 20,
        "generate_examples": 4, "warmup_steps": 2}


def test_warm_up_then_linear_decay_to_zero():
    factors = [recipe.warmup_then_decay(step, warmup_steps=4, max_steps=20) for step in range(21)]
    assert factors[:4] == pytest.approx([0.25, 0.5 * 0.95, 0.75 * 0.9, 1.0 * 0.85])
    assert factors[4] == pytest.approx(0.8) and factors[20] == 0
    assert all(a >= b for a, b in zip(factors[3:], factors[4:])), "decays after the warm-up"


def test_splits_are_balanced_disjoint_and_sized_by_the_settings():
    settings = load_settings(NAME, "smoke", {"train_examples": 40, "validation_examples": 10})
    splits = recipe.load_reviews(settings, seed=0)
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (40, 10, 500)
    assert not set(splits["train"]["text"]) & set(splits["validation"]["text"])
    assert sum(splits["train"]["label"]) + sum(splits["validation"]["label"]) == 25, "a class-balanced draw of 50"
    rows = {row["split"]: row for row in recipe.describe_splits(splits)}
    assert rows["test"]["reviews"] == 500 and rows["validation"]["positive share"] == sum(splits["validation"]["label"]) / 10


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    from transformers import AutoTokenizer

    from hwutils.core.run import start_run
    from hwutils.t5_peft import methods

    run = start_run(NAME, "smoke", 0, tmp_path_factory.mktemp("recipe"), TINY)
    tokenizer = AutoTokenizer.from_pretrained(run.settings.model)
    data = recipe.encode_reviews(tokenizer, run.settings, recipe.load_reviews(run.settings, run.seed))
    table = methods.method_table(run.settings, tokenizer, ["lora_scratch"])
    return run, data, recipe.train_method(run, table["lora_scratch"], tokenizer, data)


def test_train_method_records_the_run_at_once_and_saves_the_scratch_weights(lora_run):
    run, data, outcome = lora_run
    recorded = json.loads(run.results_path.read_text())["methods"]["lora_scratch"]
    assert recorded["metrics"] == pytest.approx(outcome.metrics())
    assert recorded["trainable_parameters"] == outcome.trainable == lora.count_parameters(
        AutoConfig.from_pretrained(run.settings.model), outcome.method.hyper.lora)
    assert recorded["lr"] == run.settings.lora_lr and recorded["train"]["steps"] == TINY["max_steps"]
    assert [e["step"] for e in recorded["val_curve"]] == [0, 3, 6]
    assert outcome.weights_file == run.output_dir / "lora_scratch.pt" and outcome.weights_file.exists()
    assert len(outcome.evaluation.predictions) == len(data.test) == TINY["test_examples"]


def test_reloading_the_weight_file_reproduces_the_trained_model(lora_run):
    run, data, outcome = lora_run
    check = recipe.reload_check(outcome, run.settings, run.seed, data, run.device)
    assert check["max_abs_score_difference"] == 0 and check["same_test_predictions"]
    assert check["bytes"] == outcome.weights_file.stat().st_size


def test_merging_keeps_the_logits_and_unmerges_afterwards(lora_run):
    run, data, outcome = lora_run
    model = lora.load(recipe.pretrained_t5(run.settings.model, run.seed), outcome.weights_file)
    merge = recipe.merge_check(model, data, batch_size=8)
    assert merge["max_abs_logit_difference"] < 1e-4 and merge["batch"] == 8
    assert not any(layer.merged for layer in lora.lora_layers(model).values())
    assert any(layer.lora_B.weight.abs().sum() > 0 for layer in lora.lora_layers(model).values()), "a trained update"
