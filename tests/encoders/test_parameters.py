"""Analytic parameter counts of RoBERTa classifiers and PEFT methods equal PyTorch's counts,
for a tiny configuration and for the real roberta-large built on the meta device."""

from __future__ import annotations

import pytest
from peft import LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType, get_peft_model
from transformers import RobertaConfig, RobertaForSequenceClassification

from hwutils.encoders import parameters as analytic
from hwutils.core.errors import ConfigError
from hwutils.core.models import count_parameters, lora_parameters, on_meta_device
from hwutils.encoders.prefix_tuning import RobertaPrefixForSequenceClassification

TINY = RobertaConfig(vocab_size=120, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48,
                     max_position_embeddings=40, type_vocab_size=1, num_labels=3)
REAL = analytic.roberta_large_config(num_labels=3)


def build(config, method: str):
    """(model with the method applied, analytic trainable count) for one of the methods notebook 02 compares."""
    head = analytic.classification_head_parameters(config, config.num_labels)
    model_class = RobertaPrefixForSequenceClassification if method.startswith("prefix") else RobertaForSequenceClassification
    model = on_meta_device(model_class, config)
    if method == "full":
        return model, analytic.sequence_classifier_parameters(config, config.num_labels)
    peft_config, expected = {
        "lora": (LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, target_modules=["query", "value"]),
                 lora_parameters(analytic.layer_shapes(config), 8, ["query", "value"], config.num_hidden_layers)),
        "lora_qkv": (LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "key", "value"]),
                     lora_parameters(analytic.layer_shapes(config), 4, ["query", "key", "value"], config.num_hidden_layers)),
        "prompt": (PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=20),
                   analytic.prompt_tuning_parameters(config, 20)),
        "p_tuning": (PromptEncoderConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=20, encoder_hidden_size=128),
                     analytic.p_tuning_parameters(config, 20, 128)),
        "prefix": (PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=16),
                   analytic.prefix_tuning_parameters(config, 16)),
        "prefix_projection": (PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=16, prefix_projection=True,
                                                 encoder_hidden_size=64),
                              analytic.prefix_tuning_parameters(config, 16, prefix_projection=True, encoder_hidden_size=64)),
    }[method]
    return get_peft_model(model, peft_config), expected + head


METHODS = ["full", "lora", "lora_qkv", "prompt", "p_tuning", "prefix", "prefix_projection"]


@pytest.mark.parametrize("config", [TINY, REAL], ids=["tiny", "roberta-large"])
@pytest.mark.parametrize("method", METHODS)
def test_analytic_trainable_count_equals_counted(config, method):
    model, expected = build(config, method)
    assert count_parameters(model).trainable == expected


@pytest.mark.parametrize("config", [TINY, REAL], ids=["tiny", "roberta-large"])
def test_parts_add_up_to_the_counted_classifier(config):
    model = on_meta_device(RobertaForSequenceClassification, config)
    assert count_parameters(model.roberta.embeddings).total == analytic.embedding_parameters(config)
    assert count_parameters(model.roberta.encoder.layer[0]).total == analytic.encoder_layer_parameters(config)
    assert count_parameters(model.classifier).total == analytic.classification_head_parameters(config, config.num_labels)
    assert count_parameters(model).total == analytic.sequence_classifier_parameters(config, config.num_labels)


def test_architecture_rows_set_each_formula_next_to_the_count():
    rows = analytic.architecture_rows({"tiny": TINY, "roberta-large": REAL})
    assert [row["part"] for row in rows] == list(analytic.PARTS)
    assert all(row["tiny: analytic"] == row["tiny: counted"] and row["roberta-large: analytic"] == row["roberta-large: counted"]
               for row in rows)
    whole = rows[-1]
    assert whole["roberta-large: counted"] == 355_362_819 and whole["tiny: counted"] < whole["roberta-large: counted"]
    layers = rows[2]
    assert layers["tiny: analytic"] == TINY.num_hidden_layers * rows[1]["tiny: analytic"]


def test_reference_counts_of_design_md():
    """DESIGN.md: roberta-large with a 3-class head has 355,362,819 parameters; LoRA r=8 on query,value + head: 1,839,107."""
    assert analytic.sequence_classifier_parameters(REAL, 3) == 355_362_819
    assert count_parameters(on_meta_device(RobertaForSequenceClassification, REAL)).total == 355_362_819
    lora, _ = build(REAL, "lora")
    assert count_parameters(lora).trainable == 1_839_107
    assert analytic.word_embedding_parameters(REAL) == 51_471_360


def test_unfreezing_the_word_embeddings_adds_the_whole_matrix():
    model, expected = build(REAL, "p_tuning")
    model.word_embeddings.weight.requires_grad_(True)
    assert count_parameters(model).trainable == expected + analytic.word_embedding_parameters(REAL)
    # the matrix is reachable under two names in a peft prompt model: a count that does not de-duplicate sees it twice
    by_name = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad)
    assert by_name == count_parameters(model).trainable + analytic.word_embedding_parameters(REAL)


def test_lora_count_refuses_targets_it_has_no_single_shape_for():
    with pytest.raises(ConfigError, match="known layers: query, key, value"):
        lora_parameters(analytic.layer_shapes(REAL), 8, ["dense"], REAL.num_hidden_layers)
