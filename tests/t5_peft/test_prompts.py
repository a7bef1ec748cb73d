"""hwutils.t5_peft.prompts: trainable virtual tokens in front of a frozen T5's encoder input."""

from __future__ import annotations

import pytest
import torch
from transformers import T5Config

from hwutils.core.errors import ConfigError, DataError
from hwutils.t5_peft.fixtures import T5_SMALL_CONFIG, random_t5
from hwutils.core.models import count_parameters
from hwutils.t5_peft import lora, prompts
from tests.t5_peft.test_lora import inputs, train_briefly

CONFIG = prompts.PromptConfig(num_virtual_tokens=5)
INIT_IDS = [10, 11, 12, 13, 14]


def trained_prompt_model(steps: int = 3):
    return train_briefly(prompts.add_soft_prompt(random_t5(), CONFIG, INIT_IDS), steps, lr=1e-1)


class FakeTokenizer:
    def __call__(self, text):
        return {"input_ids": [len(word) for word in text.split()] + [1]}


def test_init_ids_repeat_or_cut_the_text_tokens_like_peft():
    assert prompts.init_token_ids(FakeTokenizer(), "ab cde", 7) == [2, 3, 1, 2, 3, 1, 2]
    assert prompts.init_token_ids(FakeTokenizer(), "ab cde f", 2) == [2, 3]


def test_prompts_start_as_the_embeddings_of_the_init_tokens():
    base = random_t5()
    model = prompts.add_soft_prompt(base, CONFIG, INIT_IDS)
    assert torch.equal(model.prompt_embeddings, base.get_input_embeddings().weight[INIT_IDS])


def test_output_shape_is_unchanged_and_the_mask_is_extended():
    model = prompts.add_soft_prompt(random_t5(), CONFIG, INIT_IDS)
    batch = inputs()
    embeds, mask = model.prepend_prompt(batch["input_ids"], batch["attention_mask"])
    assert embeds.shape == (3, 7 + 5, 64) and mask.shape == (3, 12)
    assert mask[:, :5].eq(1).all() and torch.equal(mask[:, 5:], batch["attention_mask"])
    with torch.no_grad():
        assert model(**batch).logits.shape == random_t5()(**batch).logits.shape  # the decoder side is untouched


def test_the_prompt_is_what_the_encoder_reads():
    """Equivalent to feeding the init tokens as real tokens in front of the input."""
    base = random_t5()
    model = prompts.add_soft_prompt(base, CONFIG, INIT_IDS)
    batch = inputs()
    with_tokens = {"input_ids": torch.cat([torch.tensor([INIT_IDS] * 3), batch["input_ids"]], 1),
                   "attention_mask": torch.cat([torch.ones(3, 5, dtype=torch.long), batch["attention_mask"]], 1),
                   "labels": batch["labels"]}
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, base(**with_tokens).logits, atol=1e-6)


def test_only_the_prompt_gets_gradients_and_base_weights_stay_bit_identical():
    model = prompts.add_soft_prompt(random_t5(), CONFIG, INIT_IDS)
    base_before = {n: p.detach().clone() for n, p in model.model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-1)
    model(**inputs()).loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is not None] == ["prompt_embeddings"]
    before = model.prompt_embeddings.detach().clone()
    optimizer.step()
    assert not torch.equal(model.prompt_embeddings, before)
    for name, p in model.model.named_parameters():
        assert torch.equal(p, base_before[name]), f"{name} changed"


def test_generate_runs_with_the_prompt():
    model = trained_prompt_model()
    batch = inputs()
    output = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=3)
    assert output.shape[0] == 3 and output.shape[1] <= 4


def test_analytic_count_equals_counted():
    model = prompts.add_soft_prompt(random_t5(), CONFIG, INIT_IDS)
    assert prompts.count_parameters(model.config, CONFIG) == count_parameters(model).trainable == 5 * 64
    assert prompts.count_parameters(T5Config(**T5_SMALL_CONFIG), prompts.PromptConfig(20)) == 20 * 512


def test_bad_configurations_fail_clearly():
    with pytest.raises(ConfigError, match="at least 1"):
        prompts.PromptConfig(0)
    with pytest.raises(ConfigError, match="3 initialisation ids for 5 virtual tokens"):
        prompts.add_soft_prompt(random_t5(), CONFIG, [1, 2, 3])


def test_save_then_load_into_a_fresh_model_gives_identical_logits(tmp_path):
    model = trained_prompt_model()
    path = prompts.save(model, tmp_path / "prompts.pt")
    assert list(torch.load(path, weights_only=True)["state_dict"]) == ["prompt_embeddings"]
    fresh = prompts.load(random_t5(), path).eval()
    with torch.no_grad():
        assert torch.equal(fresh(**inputs()).logits, model(**inputs()).logits)


def test_loading_a_file_of_another_method_or_model_configuration_fails_clearly(tmp_path):
    lora_file = lora.save(lora.add_lora(random_t5(), lora.LoraConfig(r=2)), tmp_path / "lora.pt")
    with pytest.raises(DataError, match="holds 'lora' weights, not 'soft_prompt' weights"):
        prompts.load(random_t5(), lora_file)
    prompt_file = prompts.save(trained_prompt_model(steps=1), tmp_path / "prompts.pt")
    with pytest.raises(DataError, match=r"another model configuration: vocab_size=128 \(this model: 256\)"):
        prompts.load(random_t5(vocab_size=256), prompt_file)
