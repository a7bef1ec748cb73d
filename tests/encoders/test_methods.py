"""The method table of notebook 02 and the training of one method: rates and epochs come from the
settings, every analytic count matches PyTorch's, and training keeps nothing between calls."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, RobertaConfig

from hwutils.core import fixtures, models
from hwutils.core.data.mnli import load_mnli
from hwutils.core.precision import choose_precision
from hwutils.core.profiles import profile_table
from hwutils.encoders import methods
from hwutils.encoders import parameters as analytic
from hwutils.encoders.classification import encode, steps_for

SETTINGS = profile_table("02_roberta_mnli")["full"]  # raw values: nothing to build, every name present
TINY = RobertaConfig(vocab_size=120, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48,
                     max_position_embeddings=40, type_vocab_size=1, num_labels=3)
REAL = analytic.roberta_large_config(num_labels=3)
VARIANTS = {  # settings a student may change, each of which changes an analytic count
    "as_set": {},
    "lora_on_qkv_r4": {"lora_r": 4, "lora_targets": ["query", "key", "value"]},
    "prefix_projection": {"prefix_projection": True, "prefix_encoder_hidden": 64},
    "more_tokens": {"prompt_tokens": 7, "prefix_tokens": 5, "p_tuning_encoder_hidden": 24},
}


def test_the_compared_methods_have_snake_case_keys_in_the_notebooks_order():
    table = methods.method_table(SETTINGS)
    assert methods.COMPARED == ("full_ft", "lora", "prompt_tuning", "p_tuning", "deep_prompts")
    assert set(methods.COMPARED) | {"course_report_p_tuning", "sentiment"} == set(table)
    assert all(key == method.key for key, method in table.items())


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_each_learning_rate_and_epochs_come_from_the_methods_own_settings(profile):
    settings = profile_table("02_roberta_mnli")[profile]
    table = methods.method_table(settings)
    for key, method in table.items():
        epochs_from = "p_tuning" if key == "course_report_p_tuning" else key  # the mistake reuses P-tuning's epochs on purpose
        assert (method.lr, method.epochs) == (settings[f"{key}_lr"], settings[f"{epochs_from}_epochs"]), key
    changed = methods.method_table({**settings, "lora_lr": 0.123, "deep_prompts_epochs": 9.0})
    assert changed["lora"].lr == 0.123 and changed["deep_prompts"].epochs == 9.0
    assert changed["full_ft"].lr == settings["full_ft_lr"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("config", [TINY, REAL], ids=["tiny", "roberta-large"])
def test_every_methods_analytic_count_equals_pytorchs(config, variant):
    table = methods.method_table({**SETTINGS, **VARIANTS[variant]})
    for key, method in table.items():
        assert method.analytic_trainable(config) == models.count_parameters(method.on_meta_device(config)).trainable, key


def test_trainable_rows_and_the_reference_counts_of_design_md():
    table = methods.method_table(SETTINGS)
    rows = {r["method"]: r for r in methods.trainable_rows(list(table.values()), {"tiny": TINY, "roberta-large": REAL})}
    assert rows["lora"]["roberta-large: counted"] == rows["lora"]["roberta-large: analytic"] == 1_839_107
    assert rows["full_ft"]["roberta-large: counted"] == rows["full_ft"]["roberta-large: total"] == 355_362_819
    # the course report's set-up: P-tuning + head + the 51,471,360-entry word-embedding matrix
    assert rows["course_report_p_tuning"]["roberta-large: counted"] == 52_824_323
    assert rows["lora"]["tiny: counted"] < rows["lora"]["roberta-large: counted"]


def test_deep_prompts_need_the_fixed_roberta_class():
    table = methods.method_table(SETTINGS)
    assert table["deep_prompts"].model_class.__name__ == "RobertaPrefixForSequenceClassification"
    assert all(m.model_class.__name__ == "AutoModelForSequenceClassification" for k, m in table.items() if k != "deep_prompts")


@pytest.fixture(scope="module")
def small_task():
    """The smoke profile's model and 96 training / 60 held-out NLI pairs, encoded."""
    model = str(fixtures.fixture_path("tiny_roberta"))
    tokenizer = AutoTokenizer.from_pretrained(model)
    data = str(fixtures.fixture_path("nli_pairs"))
    train = encode(load_mnli(data, "train", n=96, seed=0), tokenizer, ["premise", "hypothesis"], 64)
    held_out = encode(load_mnli(data, "validation_matched", n=60, seed=0), tokenizer, ["premise", "hypothesis"], 64)
    return model, tokenizer, train, held_out


def recipe_for(model: str, tokenizer, folder, seed: int = 0) -> methods.Recipe:
    return methods.Recipe(model=model, pad_token_id=tokenizer.pad_token_id, batch_size=16, eval_batch_size=32, warmup_ratio=0.1,
                          weight_decay=0.01, max_grad_norm=1.0, eval_every=3, checkpoint_every=0, checkpoint_dir=folder,
                          device=torch.device("cpu"), precision=choose_precision("cpu", "float32"), seed=seed,
                          fingerprint={"test": 1})


def test_train_method_returns_plain_results_and_keeps_nothing_between_calls(small_task, tmp_path):
    model_source, tokenizer, train, held_out = small_task
    lora = dataclasses.replace(methods.method_table(SETTINGS)["lora"], lr=3e-3, epochs=1.0)
    recipe = recipe_for(model_source, tokenizer, tmp_path / "a")
    model, result = methods.train_method(lora, recipe, train, held_out, num_labels=3)
    steps = steps_for(1.0, len(train), 16)
    assert result.key == "lora" and result.steps == steps == len(result.training.losses)
    assert [e["step"] for e in result.training.evals] == [0, 3, steps] and "held_out_accuracy" in result.training.evals[0]
    assert result.parameters == models.count_parameters(model)
    assert result.parameters.trainable == lora.analytic_trainable(model.config)
    assert result.moved > 0
    assert not any(isinstance(value, torch.nn.Module) for value in vars(result).values())
    fields = result.record_fields()
    assert fields["trainable_parameters"] == result.parameters.trainable and fields["steps"] == steps
    # a second call, in a fresh folder (no checkpoint to reuse), trains the same way: no state was kept
    _, again = methods.train_method(lora, recipe_for(model_source, tokenizer, tmp_path / "b"), train, held_out, num_labels=3)
    assert again.training.losses == result.training.losses and again.moved == result.moved


def test_the_course_report_set_up_trains_the_word_embeddings_and_moves_less(small_task, tmp_path):
    model_source, tokenizer, train, held_out = small_task
    table = methods.method_table(SETTINGS)
    recipe = recipe_for(model_source, tokenizer, tmp_path)
    short = {"epochs": 1.0}
    mistake_model, mistake = methods.train_method(dataclasses.replace(table["course_report_p_tuning"], **short), recipe,
                                                  train, held_out, num_labels=3)
    _, correct = methods.train_method(dataclasses.replace(table["p_tuning"], lr=5e-3, **short), recipe, train, held_out,
                                      num_labels=3)
    assert mistake_model.word_embeddings.weight.requires_grad
    assert mistake.parameters.trainable - correct.parameters.trainable == analytic.word_embedding_parameters(mistake_model.config)
    assert mistake.moved < correct.moved  # a full-fine-tuning rate barely moves the new prompt encoder and head


def test_scores_and_metrics_are_named_by_split():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])
    scores = {"matched": methods.Scores(np.array([0, 1, 2, 2]), logits),
              "mismatched": methods.Scores(np.array([0, 0, 0, 0]), logits)}
    losses = [{"step": i + 1, "loss": loss, "lr": 0.1} for i, loss in enumerate([1.2] * 10 + [0.4] * 10)]
    result = methods.MethodResult("lora", 20, methods.TrainResult(losses=losses), models.ParameterCount(10, 2), 0.5)
    values = methods.metrics_of(result, scores)
    assert set(values) == {"matched_accuracy", "matched_macro_f1", "mismatched_accuracy", "mismatched_macro_f1",
                           "first_loss", "last_loss"}
    assert values["matched_accuracy"] == 0.75 and values["mismatched_accuracy"] == 0.5
    assert (values["first_loss"], values["last_loss"]) == pytest.approx((1.2, 0.4))
    assert scores["matched"].confusion().tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_relative_change_measures_only_the_new_parameters():
    model = torch.nn.ModuleDict({"classifier": torch.nn.Linear(2, 2, bias=False), "body": torch.nn.Linear(2, 2, bias=False)})
    with torch.no_grad():
        model["classifier"].weight.copy_(torch.eye(2))
    start = methods.new_parameters(model)
    assert set(start) == {"classifier.weight"}
    with torch.no_grad():
        model["classifier"].weight.mul_(2)
        model["body"].weight.add_(100)
    assert methods.relative_change(start, model) == pytest.approx(1.0)
