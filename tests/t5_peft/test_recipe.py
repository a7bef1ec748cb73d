"""hwutils.t5_peft.recipe: the data, the shared training recipe, and the life of one method's run."""

from __future__ import annotations

import json

import pytest
from transformers import AutoConfig

from hwutils.core.profiles import load_settings
from hwutils.t5_peft import lora, recipe

NAME = "01_t5_imdb"
TINY = {"max_steps": 6, "eval_every": 3, "train_examples": 48, "validation_examples": 16, "test_examples": 20,
        "generate_examples": 4, "warmup_steps": 2, "batch_size": 8, "checkpoint_every": 2}


def test_warm_up_then_linear_decay_to_zero():
    factors = [recipe.warmup_then_decay(step, warmup_steps=4, max_steps=20) for step in range(21)]
    assert factors[:4] == pytest.approx([0.25, 0.5 * 0.95, 0.75 * 0.9, 1.0 * 0.85])
    assert factors[4] == pytest.approx(0.8) and factors[20] == 0
    assert all(a >= b for a, b in zip(factors[3:], factors[4:])), "decays after the warm-up"
    assert [recipe.warmup_then_decay(step, 0, 4) for step in range(4)] == [1.0, 0.75, 0.5, 0.25], "no warm-up"


def test_train_examples_zero_takes_the_whole_split_with_validation_held_out():
    settings = load_settings(NAME, "smoke", {"train_examples": 0, "validation_examples": 10})
    splits = recipe.load_reviews(settings, seed=0)
    assert len(splits["train"]) + len(splits["validation"]) == 2000 and len(splits["validation"]) == 10


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
    assert outcome.weights_file == run.output_dir / "lora.pt" and outcome.weights_file.exists()
    assert recorded["resumed_from_step"] == 0
    assert len(outcome.evaluation.predictions) == len(data.test) == TINY["test_examples"]


def test_reloading_the_weight_file_reproduces_the_trained_model(lora_run):
    run, data, outcome = lora_run
    check = recipe.reload_check(outcome, run.settings, run.seed, data, run.device, run.precision)
    assert check["max_abs_score_difference"] == 0 and check["same_test_predictions"]
    assert check["bytes"] == outcome.weights_file.stat().st_size


def test_merging_keeps_the_logits_and_unmerges_afterwards(lora_run):
    run, data, outcome = lora_run
    model = lora.load(recipe.pretrained_t5(run.settings.model, run.seed), outcome.weights_file)
    merge = recipe.merge_check(model, data, batch_size=8)
    assert merge["max_abs_logit_difference"] < 1e-4 and merge["batch"] == 8
    assert not any(layer.merged for layer in lora.lora_layers(model).values())
    assert any(layer.lora_B.weight.abs().sum() > 0 for layer in lora.lora_layers(model).values()), "a trained update"


def run_lora(folder, interrupt_at: int = 0):
    """train_method for lora_scratch with the TINY settings in ``folder``; with ``interrupt_at``, the
    session ends (an exception, as a disconnect) right after that step."""
    import functools
    from unittest import mock

    from transformers import AutoTokenizer

    from hwutils.core.run import start_run
    from hwutils.t5_peft import methods

    run = start_run(NAME, "smoke", 0, folder, TINY)
    tokenizer = AutoTokenizer.from_pretrained(run.settings.model)
    data = recipe.encode_reviews(tokenizer, run.settings, recipe.load_reviews(run.settings, run.seed))
    method = methods.method_table(run.settings, tokenizer, ["lora_scratch"])["lora_scratch"]
    if not interrupt_at:
        return recipe.train_method(run, method, tokenizer, data)

    def disconnect(step):
        if step == interrupt_at:
            raise KeyboardInterrupt("session ended")

    with mock.patch.object(recipe, "train", functools.partial(recipe.train, after_step=disconnect)), \
            pytest.raises(KeyboardInterrupt):
        recipe.train_method(run, method, tokenizer, data)


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_model_and_a_finished_one_is_reused(lora_run, tmp_path):
    _, _, uninterrupted = lora_run
    folder = tmp_path / "interrupted"
    run_lora(folder, interrupt_at=5)  # the last checkpoint was written at step 4
    checkpoints = folder / "checkpoints"
    assert (checkpoints / "lora_scratch.pt").exists() and not (checkpoints / "lora_scratch.finished.pt").exists()

    resumed = run_lora(folder)
    assert resumed.training.resumed_from_step == 4
    assert resumed.metrics() == uninterrupted.metrics()
    assert resumed.training.losses == uninterrupted.training.losses
    assert resumed.evaluation.scores.equal(uninterrupted.evaluation.scores)
    assert not (checkpoints / "lora_scratch.pt").exists(), "a finished run keeps no optimizer state"

    reused = run_lora(folder)
    assert reused.training.resumed_from_step == TINY["max_steps"] and reused.metrics() == uninterrupted.metrics()
    assert json.loads((folder / "results.json").read_text())["methods"]["lora_scratch"]["resumed_from_step"] == 6


@pytest.mark.slow
def test_a_checkpoint_of_other_settings_is_not_resumed(lora_run, tmp_path):
    folder = tmp_path / "changed"
    run_lora(folder, interrupt_at=5)
    from unittest import mock

    with mock.patch.dict(TINY, {"lora_lr": 0.5}):
        changed = run_lora(folder)
    assert changed.training.resumed_from_step == 0
