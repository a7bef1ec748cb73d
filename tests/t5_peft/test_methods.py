"""hwutils.t5_peft.methods: the set-ups of notebook 01 (ten runs and the random-init ablation), built
from the settings, used by the notebook, benchmarks/t5_peft_cost.py and the preflight."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from hwutils.core.errors import ConfigError
from hwutils.core.models import count_parameters
from hwutils.core.profiles import load_settings
from hwutils.t5_peft import adapters, counting, lora, methods, prompts, recipe
from hwutils.core.fixtures import fixture_path

NAME = "01_t5_imdb"
KEYS = ["full_ft", "prompt_tuning_scratch", "prompt_tuning_peft", "prompt_tuning_opendelta", "prompt_tuning_random_init",
        "adapter_scratch", "adapter_adapters", "adapter_opendelta", "lora_scratch", "lora_peft", "lora_opendelta"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(fixture_path("t5_tiny"))


@pytest.fixture(scope="module")
def smoke(tokenizer):
    settings = load_settings(NAME, "smoke")
    return settings, methods.method_table(settings, tokenizer)


def test_eleven_methods_with_the_learning_rate_of_their_family_from_the_settings(tokenizer):
    settings = load_settings(NAME, "smoke", {"lora_lr": 0.125, "adapter_lr": 0.25})
    table = methods.method_table(settings, tokenizer)
    assert list(table) == KEYS
    for key, method in table.items():
        assert key.startswith(method.family) and method.lr == settings[f"{method.family}_lr"], key
    assert {table[k].lr for k in ("lora_scratch", "lora_peft", "lora_opendelta")} == {0.125}
    assert table["adapter_adapters"].lr == 0.25
    assert [key for key, method in table.items() if method.variant] == ["prompt_tuning_random_init"]


def test_hyper_parameters_come_from_the_settings(tokenizer):
    settings = load_settings(NAME, "smoke", {"lora_r": 4, "lora_targets": ["q", "k"], "prompt_tokens": 3,
                                             "adapter_reduction_factor": 16})
    hyper = methods.method_table(settings, tokenizer)["lora_peft"].hyper
    assert hyper.lora == lora.LoraConfig(4, settings.lora_alpha, settings.lora_dropout, ("q", "k"))
    assert hyper.prompt == prompts.PromptConfig(3) and len(hyper.prompt_init_ids) == 3
    assert hyper.adapter == adapters.AdapterConfig(16, settings.adapter_placement, settings.adapter_activation)
    assert hyper.tokenizer_source == str(fixture_path("t5_tiny"))


@pytest.mark.parametrize("key", KEYS)
def test_each_method_trains_exactly_its_familys_analytic_count(smoke, key):
    settings, table = smoke
    method = table[key]
    model = method.build(recipe.pretrained_t5(settings.model, 0))
    analytic = counting.analytic_parameters(model.config, method.hyper)[method.family][0]
    assert count_parameters(model).trainable == analytic
    with torch.no_grad():  # every method starts as the pre-trained model, or (a prompt) in front of it
        batch = {"input_ids": torch.tensor([[5, 6, 7, 1]]), "attention_mask": torch.ones(1, 4, dtype=torch.long),
                 "labels": torch.tensor([[8, 1]])}
        assert torch.isfinite(model(**batch).loss)


def test_scratch_and_peft_twins_start_from_the_same_values(smoke):
    settings, table = smoke
    built = {key: table[key].build(recipe.pretrained_t5(settings.model, 0))
             for key in ("prompt_tuning_scratch", "prompt_tuning_peft", "lora_scratch", "lora_peft")}
    peft_prompt = built["prompt_tuning_peft"].prompt_encoder["default"].embedding.weight
    assert torch.equal(built["prompt_tuning_scratch"].prompt_embeddings, peft_prompt), "same text initialisation"

    def lora_a(model):
        return [p for name, p in model.named_parameters() if "lora_A" in name]

    assert len(lora_a(built["lora_scratch"])) == len(lora_a(built["lora_peft"])) > 0
    assert all(torch.equal(a, b) for a, b in zip(lora_a(built["lora_scratch"]), lora_a(built["lora_peft"])))


def test_the_random_init_ablation_differs_from_the_text_initialised_prompt_only_in_its_start(smoke):
    settings, table = smoke
    text, random = (table[key].build(recipe.pretrained_t5(settings.model, 0))
                    for key in ("prompt_tuning_scratch", "prompt_tuning_random_init"))
    assert type(text) is type(random) and text.prompt_config == random.prompt_config
    embeddings = text.model.get_input_embeddings().weight
    assert torch.equal(text.prompt_embeddings, embeddings[list(table["prompt_tuning_scratch"].hyper.prompt_init_ids)])
    assert random.prompt_embeddings.abs().max() <= prompts.RANDOM_INIT_RANGE
    assert not any(torch.equal(row, e) for row in random.prompt_embeddings for e in embeddings), "not a token's embedding"
    assert table["prompt_tuning_random_init"].lr == table["prompt_tuning_scratch"].lr


def test_only_the_scratch_methods_of_the_ten_runs_have_weight_files_with_the_assignments_names(smoke):
    _, table = smoke
    assert {key: (m.weights, m.weights_file) for key, m in table.items() if m.weights is not None} == {
        "prompt_tuning_scratch": (prompts.WEIGHTS, "prompts.pt"), "adapter_scratch": (adapters.WEIGHTS, "adapter.pt"),
        "lora_scratch": (lora.WEIGHTS, "lora.pt")}


def test_shapes_only_hyper_parameters_need_no_tokenizer_and_build_the_same_sizes(smoke):
    settings, table = smoke
    shapes = methods.method_table(settings, None, hyper=methods.HyperParameters.for_shapes(settings))
    assert list(shapes) == KEYS
    for key in ("prompt_tuning_peft", "prompt_tuning_scratch", "lora_peft"):
        built = shapes[key].build(recipe.pretrained_t5(settings.model, 0))
        assert count_parameters(built).trainable == count_parameters(
            table[key].build(recipe.pretrained_t5(settings.model, 0))).trainable


def test_unknown_method_fails_with_the_valid_ones(tokenizer):
    settings = load_settings(NAME, "smoke")
    assert list(methods.method_table(settings, tokenizer, ["lora_peft", "full_ft"])) == ["lora_peft", "full_ft"]
    with pytest.raises(ConfigError, match="unknown method.*'lora'.*valid methods: full_ft, prompt_tuning_scratch"):
        methods.method_table(settings, tokenizer, ["lora"])


@pytest.mark.slow
def test_the_benchmark_builds_the_notebooks_methods_from_the_settings_file():
    """benchmarks/t5_peft_cost.py times what the notebook trains: the same table, the full profile's values."""
    from hwutils.core.paths import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("t5_peft_cost", PROJECT_ROOT / "benchmarks" / "t5_peft_cost.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    full = load_settings(NAME, "full")
    table = benchmark.notebook_methods("full")
    assert list(table) == KEYS
    assert all(method.lr == full[f"{method.family}_lr"] for method in table.values())
    hyper = table["lora_scratch"].hyper
    assert (hyper.lora.r, hyper.lora.alpha, hyper.lora.dropout, list(hyper.lora.target_modules)) == \
        (full.lora_r, full.lora_alpha, full.lora_dropout, full.lora_targets)
    assert (hyper.prompt.num_virtual_tokens, hyper.adapter.reduction_factor) == (full.prompt_tokens, full.adapter_reduction_factor)
    model = table["adapter_opendelta"].build(benchmark.t5_small())
    assert count_parameters(model).trainable == adapters.count_parameters(model.config, hyper.adapter)
