"""The tiny T5 fixture and the t5-small configuration; hwutils.t5_peft.t5_layout's analytic counts."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, AutoTokenizer, T5Config, T5ForConditionalGeneration

from hwutils.core.errors import ConfigError
from hwutils.core.fixtures import fixture_path
from hwutils.t5_peft.fixtures import T5_SMALL_CONFIG, random_t5
from hwutils.core.models import count_parameters, on_meta_device
from hwutils.t5_peft import t5_layout


def test_tiny_t5_loads_like_a_hub_checkpoint_and_knows_the_label_words():
    folder = fixture_path("t5_tiny")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = T5ForConditionalGeneration.from_pretrained(folder)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer("The plot was dull.")["input_ids"][-1] == tokenizer.eos_token_id
    assert "token_type_ids" not in tokenizer("x")
    for word in ("positive", "negative"):
        assert len(tokenizer(word, add_special_tokens=False)["input_ids"]) == 1
    assert model.config.vocab_size == len(tokenizer)
    assert model.lm_head.weight is model.shared.weight, "tied embeddings, like t5-small"
    pretraining = json.loads((folder / "pretraining.json").read_text())
    assert pretraining["last_loss"] < 0.5 * pretraining["first_loss"], "the fixture model was pre-trained"
    assert pretraining["held_out_loss"] < 0.5 * pretraining["first_loss"], "and it carries over to held-out fixture text"


def test_pretraining_text_holds_no_label_no_verdict_and_not_the_notebooks_format():
    """Issue 13: the tiny T5 reads generic fixture text only; whatever the notebook's methods reach
    above chance on "sentiment: <review>" -> positive/negative is their own training's doing."""
    from hwutils.core.profiles import load_settings
    from hwutils.t5_peft import fixtures

    settings = load_settings("01_t5_imdb", "smoke")
    texts = fixtures.pretraining_texts(seed=0)
    words = {word.strip(".,:;!?").lower() for text in texts for word in text.split()}
    assert not words & set(settings.label_words), "the label words never occur in the pre-training text"
    assert not any(settings.input_prefix.strip() in text for text in texts)
    assert not words & {"verdict", "rating", "overall"}


def test_t5_small_config_fixture_is_the_real_architecture():
    config = AutoConfig.from_pretrained(fixture_path("t5_small_config"))
    model = on_meta_device(T5ForConditionalGeneration, config)
    assert count_parameters(model).total == 60_506_624  # DESIGN.md's reference figure


@pytest.mark.parametrize("overrides", [{}, {"feed_forward_proj": "gated-gelu"}, {"num_decoder_layers": 3},
                                       {"tie_word_embeddings": False}])
def test_total_parameters_formula_matches_the_model(overrides):
    model = random_t5(**overrides)
    assert t5_layout.total_parameters(model.config) == count_parameters(model).total
    assert t5_layout.total_parameters(T5Config(**T5_SMALL_CONFIG)) == 60_506_624


def test_layout_lists_every_linear_layer_of_the_model():
    model = random_t5(num_decoder_layers=3)
    counted = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):  # e.g. decoder.block.2.layer.1.EncDecAttention.q -> decoder.EncDecAttention.q
            parts = name.split(".")
            key = name if name == "lm_head" else f"{parts[0]}.{parts[-2]}.{parts[-1]}"
            counted[key] = counted.get(key, 0) + 1
    layout = t5_layout.linear_layers(model.config)
    assert counted == {layer.name: layer.count for layer in layout}
    shapes = {name: (m.in_features, m.out_features) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert shapes["decoder.block.2.layer.2.DenseReluDense.wi"] == next(
        (l.in_features, l.out_features) for l in layout if l.name == "decoder.DenseReluDense.wi")


def test_name_patterns_match_whole_components():
    assert t5_layout.matches("encoder.block.0.layer.0.SelfAttention.q", ["q"])
    assert t5_layout.matches("decoder.block.1.layer.1.EncDecAttention.q", ["EncDecAttention.q"])
    assert not t5_layout.matches("decoder.block.1.layer.0.SelfAttention.q", ["EncDecAttention.q"])
    assert not t5_layout.matches("encoder.block.0.layer.1.DenseReluDense.wi_0", ["wi"])


def test_other_architectures_are_refused():
    with pytest.raises(ConfigError, match="describe T5 models"):
        t5_layout.linear_layers(AutoConfig.for_model("bert"))


def test_prefix_lm_batches_come_from_the_seeded_generator_alone():
    """The tiny T5 is pre-trained by hwutils.core.fixtures.pretraining.pretrain, which hands each
    batch draw its seeded generator: the same seed gives the same batches, and the global random
    state is left alone."""
    from hwutils.t5_peft import fixtures

    texts = fixtures.pretraining_texts(seed=0)[-200:]  # plain reviews
    tokenizer = AutoTokenizer.from_pretrained(fixture_path("t5_tiny"))
    next_batch = fixtures.prefix_lm_batches(tokenizer, texts, batch_size=8, max_source_length=48, max_target_length=12)
    global_state = torch.get_rng_state()
    first, again = next_batch(torch.Generator().manual_seed(3)), next_batch(torch.Generator().manual_seed(3))
    other = next_batch(torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), global_state)
    assert torch.equal(first["input_ids"], again["input_ids"]) and torch.equal(first["labels"], again["labels"])
    assert not torch.equal(first["input_ids"], other["input_ids"])


def test_prefix_lm_examples_split_a_text_into_its_start_and_its_continuation():
    from hwutils.t5_peft import fixtures

    generator = torch.Generator().manual_seed(0)
    text = "The plot was dull. I saw the sequel first."
    cuts = [fixtures.prefix_lm_example(text, generator) for _ in range(200)]
    assert all(f"{start} {rest}" == text and start and rest for start, rest in cuts)
    assert len({start for start, _ in cuts}) == len(text.split()) - 1, "every cut between two words occurs"
