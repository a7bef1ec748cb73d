"""The method table of notebook 02 and the training of one method: rates and epochs come from the
settings, every analytic count matches PyTorch's, and training keeps nothing between calls."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, RobertaConfig

from hwutils.core import fixtures, models
from hwutils.core.errors import ConfigError
from hwutils.core.data.mnli import load_mnli
from hwutils.core.precision import choose_precision
from hwutils.core.profiles import profile_table
from hwutils.encoders import methods
from hwutils.encoders import parameters as analytic
from hwutils.encoders.classification import encode, steps_for

SETTINGS = {**profile_table("02_roberta_mnli")["full"],  # raw values: nothing to build, every name present
            "top_layers_trained": 2}  # TINY has 3 layers (the full profile's value is measured on roberta-large in test_preflight)
TINY = RobertaConfig(vocab_size=120, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48,
                     max_position_embeddings=40, type_vocab_size=1, num_labels=3)
REAL = analytic.roberta_large_config(num_labels=3)
VARIANTS = {  # settings a student may change, each of which changes an analytic count
    "as_set": {},
    "lora_on_qkv_r4": {"lora_r": 4, "lora_targets": ["query", "key", "value"]},
    "prefix_projection": {"prefix_projection": True, "prefix_encoder_hidden": 64},
    "more_tokens": {"prompt_tokens": 7, "prefix_tokens": 5, "p_tuning_encoder_hidden": 24},
    "all_layers": {"top_layers_trained": 3},
}


def test_the_compared_methods_have_snake_case_keys_in_the_notebooks_order():
    table = methods.method_table(SETTINGS)
    assert methods.COMPARED == ("full_ft", "top_layers", "head_only", "lora", "prompt_tuning", "p_tuning", "deep_prompts")
    assert set(methods.COMPARED) | {"course_report_p_tuning", "sentiment", "sentiment_head"} == set(table)
    assert all(key == method.key for key, method in table.items())


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_each_learning_rate_and_epochs_come_from_the_methods_own_settings(profile):
    settings = profile_table("02_roberta_mnli")[profile]
    table = methods.method_table(settings)
    for key, method in table.items():
        assert (method.lr, method.epochs) == (settings[f"{key}_lr"], settings[f"{key}_epochs"]), key
    changed = methods.method_table({**settings, "lora_lr": 0.123, "deep_prompts_epochs": 9.0})
    assert changed["lora"].lr == 0.123 and changed["deep_prompts"].epochs == 9.0
    assert changed["full_ft"].lr == settings["full_ft_lr"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("config", [TINY, REAL], ids=["tiny", "roberta-large"])
@pytest.mark.slow
def test_every_methods_analytic_count_equals_pytorchs(config, variant):
    table = methods.method_table({**SETTINGS, **VARIANTS[variant]})
    for key, method in table.items():
        assert method.analytic_trainable(config) == models.count_parameters(method.on_meta_device(config)).trainable, key


@pytest.mark.slow
def test_trainable_rows_and_the_reference_counts_of_design_md():
    table = methods.method_table(SETTINGS)
    rows = {r["method"]: r for r in methods.trainable_rows(list(table.values()), {"tiny": TINY, "roberta-large": REAL})}
    assert rows["lora"]["roberta-large: counted"] == rows["lora"]["roberta-large: analytic"] == 1_839_107
    assert rows["full_ft"]["roberta-large: counted"] == rows["full_ft"]["roberta-large: total"] == 355_362_819
    # the course report's set-up: the 51,471,360-entry word-embedding matrix alone (prompt and head frozen)
    assert rows["course_report_p_tuning"]["roberta-large: counted"] == 51_471_360
    assert rows["head_only"]["roberta-large: counted"] == 1024 * 1024 + 1024 + 1024 * 3 + 3
    assert rows["top_layers"]["roberta-large: counted"] == 2 * analytic.encoder_layer_parameters(REAL) + rows["head_only"]["roberta-large: counted"]
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


@pytest.mark.slow
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


def trainable_names(model) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_each_freezing_leaves_exactly_its_parameters_trainable():
    table = methods.method_table({**SETTINGS, "top_layers_trained": 2})
    top = trainable_names(table["top_layers"].on_meta_device(TINY))
    assert top and all(n.startswith(("roberta.encoder.layer.1.", "roberta.encoder.layer.2.", "classifier.")) for n in top)
    assert any(n.startswith("roberta.encoder.layer.1.") for n in top) and any(n.startswith("classifier.") for n in top)
    assert {n for n in trainable_names(table["head_only"].on_meta_device(TINY))} == {
        "classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias"}
    report = table["course_report_p_tuning"].on_meta_device(TINY)
    trainable = [p for p in report.parameters() if p.requires_grad]
    assert len(trainable) == 1 and trainable[0] is report.get_input_embeddings().weight  # prompt and head frozen, as the report left them
    with pytest.raises(ConfigError, match="top_layers_trained = 4, but the model has 3 layers"):
        methods.method_table({**SETTINGS, "top_layers_trained": 4})["top_layers"].on_meta_device(TINY)


@pytest.mark.slow
def test_the_course_report_set_up_moves_neither_head_nor_prompt(small_task, tmp_path):
    model_source, tokenizer, train, held_out = small_task
    table = methods.method_table(SETTINGS)
    recipe = recipe_for(model_source, tokenizer, tmp_path)
    short = {"epochs": 1.0}
    mistake_model, mistake = methods.train_method(dataclasses.replace(table["course_report_p_tuning"], lr=1e-2, **short), recipe,
                                                  train, held_out, num_labels=3)
    _, correct = methods.train_method(dataclasses.replace(table["prompt_tuning"], lr=3e-2, **short), recipe, train, held_out,
                                      num_labels=3)
    assert mistake.parameters.trainable == analytic.word_embedding_parameters(mistake_model.config)
    assert mistake.largest_change == {"head": 0.0, "prompt": 0.0} and mistake.moved == 0.0
    assert correct.largest_change["head"] > 0 and correct.largest_change["prompt"] > 0 and correct.moved > 0


def test_reuse_notes_say_what_a_rerun_took_from_its_checkpoint():
    def result(resumed):
        return methods.MethodResult("lora", 20, methods.TrainResult(resumed_from_step=resumed), models.ParameterCount(10, 2), 0.1, {})
    assert result(0).reuse_note() == ""
    assert result(20).reuse_note() == "reused its finished checkpoint (all 20 steps; nothing was retrained)"
    assert result(8).reuse_note() == "resumed from its checkpoint at step 8 of 20"


def test_prune_checkpoints_removes_them_and_counts_their_bytes(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "a.pt").write_bytes(b"x" * 10)
    (folder / "b.pt").write_bytes(b"y" * 5)
    assert methods.prune_checkpoints(folder) == {"files": 2, "bytes": 15} and not folder.exists()
    assert methods.prune_checkpoints(folder) == {"files": 0, "bytes": 0}


def test_scores_and_metrics_are_named_by_split():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])
    scores = {"matched": methods.Scores(np.array([0, 1, 2, 2]), logits),
              "mismatched": methods.Scores(np.array([0, 0, 0, 0]), logits)}
    losses = [{"step": i + 1, "loss": loss, "lr": 0.1} for i, loss in enumerate([1.2] * 10 + [0.4] * 10)]
    result = methods.MethodResult("lora", 20, methods.TrainResult(losses=losses), models.ParameterCount(10, 2), 0.5, {})
    values = methods.metrics_of(result, scores)
    assert set(values) == {"matched_accuracy", "matched_macro_f1", "mismatched_accuracy", "mismatched_macro_f1",
                           "first_loss", "last_loss"}
    assert values["matched_accuracy"] == 0.75 and values["mismatched_accuracy"] == 0.5
    assert (values["first_loss"], values["last_loss"]) == pytest.approx((1.2, 0.4))
    assert scores["matched"].confusion().tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert scores["matched"].prediction_shares().tolist() == [0.5, 0.25, 0.25]
    assert scores["mismatched"].label_shares().tolist() == [1.0, 0.0, 0.0]


def test_changes_are_measured_on_the_added_parameters_trainable_or_not():
    model = torch.nn.ModuleDict({"classifier": torch.nn.Linear(2, 2, bias=False), "body": torch.nn.Linear(2, 2, bias=False),
                                 "prompt_encoder": torch.nn.Linear(2, 2, bias=False)})
    model["prompt_encoder"].requires_grad_(False)
    with torch.no_grad():
        model["classifier"].weight.copy_(torch.eye(2))
        model["prompt_encoder"].weight.zero_()
    start = methods.added_parameters(model)
    assert set(start) == {"classifier.weight", "prompt_encoder.weight"}
    with torch.no_grad():
        model["classifier"].weight.mul_(2)
        model["body"].weight.add_(100)
    assert methods.relative_change(start, model) == pytest.approx(1.0)  # ||2I - I|| / ||I||; the body is not counted
    assert methods.largest_change(start, model) == {"head": 1.0, "prompt": 0.0}
