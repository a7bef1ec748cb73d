"""hwutils.t5_peft.adapters: bottleneck adapters after T5's feed-forward (and attention) blocks."""

from __future__ import annotations

import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from hwutils.core.errors import ConfigError, DataError
from hwutils.t5_peft.fixtures import T5_SMALL_CONFIG, random_t5
from hwutils.core.models import count_parameters, on_meta_device
from hwutils.t5_peft import adapters, prompts
from tests.t5_peft.test_lora import inputs, train_briefly

CONFIG = adapters.AdapterConfig(reduction_factor=8)


def trained_adapter_model(config=CONFIG, steps: int = 3):
    return train_briefly(adapters.add_adapters(random_t5(), config), steps)


def test_adapter_is_the_identity_at_initialisation_and_keeps_the_shape():
    adapter = adapters.BottleneckAdapter(64, 8)
    h = torch.randn(2, 5, 64)
    assert torch.equal(adapter(h), h)
    assert adapter.down.weight.abs().sum() > 0, "a random down-projection lets the first step reach the up-projection"


@pytest.mark.parametrize("placement", ["pfeiffer", "houlsby"])
def test_model_output_unchanged_at_initialisation(placement):
    reference = random_t5()
    model = adapters.add_adapters(random_t5(), adapters.AdapterConfig(8, placement))
    with torch.no_grad():
        before, after = reference(**inputs()).logits, model(**inputs()).logits
    assert after.shape == before.shape
    assert torch.equal(after, before)


def test_pfeiffer_places_one_adapter_after_each_feed_forward_block_houlsby_also_after_attention():
    pfeiffer = adapters.add_adapters(random_t5(), CONFIG)
    wrapped = [n for n, m in pfeiffer.named_modules() if isinstance(m, adapters.WithAdapter)]
    assert len(wrapped) == 4 and all(n.endswith("DenseReluDense") for n in wrapped)
    houlsby = adapters.add_adapters(random_t5(), adapters.AdapterConfig(8, "houlsby"))
    wrapped = [n for n, m in houlsby.named_modules() if isinstance(m, adapters.WithAdapter)]
    assert len(wrapped) == 4 + 2 + 2 * 2  # feed-forward 4, encoder self-attention 2, decoder self + cross 4


def test_only_adapter_parameters_get_gradients_and_base_weights_stay_bit_identical():
    model = adapters.add_adapters(random_t5(), adapters.AdapterConfig(8, "houlsby"))
    base_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):  # the up-projection moves in step 1, so the down-projection gets gradients in step 2
        optimizer.zero_grad()
        model(**inputs()).loss.backward()
        optimizer.step()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and all(".adapter." in n for n in with_grad)
    assert any(".down." in n for n in with_grad) and any(".up." in n for n in with_grad)
    parameters = dict(model.named_parameters())
    for name, before in base_before.items():
        assert torch.equal(parameters[name], before), f"{name} changed"


@pytest.mark.parametrize("config", [CONFIG, adapters.AdapterConfig(4, "houlsby"), adapters.AdapterConfig(16, activation="gelu")])
def test_analytic_count_equals_counted(config):
    model = adapters.add_adapters(random_t5(), config)
    assert adapters.count_parameters(model.config, config) == count_parameters(model).trainable


def test_analytic_count_on_real_t5_small():
    t5_small = T5Config(**T5_SMALL_CONFIG)
    config = adapters.AdapterConfig(16)
    expected = (2 * 512 * 32 + 32 + 512) * 12
    assert adapters.count_parameters(t5_small, config) == expected
    meta = adapters.add_adapters(on_meta_device(T5ForConditionalGeneration, t5_small), config)
    assert count_parameters(meta).trainable == expected
    assert adapters.parameter_formula(t5_small, config) == "(2·d·m + m + d) × adapters = (2·512·32 + 32 + 512) × 12"


def test_bad_configurations_fail_clearly():
    with pytest.raises(ConfigError, match="unknown adapter placement 'middle'"):
        adapters.AdapterConfig(placement="middle")
    with pytest.raises(ConfigError, match="leaves no bottleneck"):
        adapters.add_adapters(random_t5(), adapters.AdapterConfig(reduction_factor=128))


@pytest.mark.parametrize("placement", ["pfeiffer", "houlsby"])
def test_save_then_load_into_a_fresh_model_gives_identical_logits(tmp_path, placement):
    model = trained_adapter_model(adapters.AdapterConfig(8, placement))
    path = adapters.save(model, tmp_path / "adapter.pt")
    saved = torch.load(path, weights_only=True)
    assert saved["method"] == "adapter" and all(".adapter." in n for n in saved["state_dict"])
    assert sum(t.numel() for t in saved["state_dict"].values()) == count_parameters(model).trainable
    fresh = adapters.load(random_t5(), path).eval()
    with torch.no_grad():
        assert torch.equal(fresh(**inputs()).logits, model(**inputs()).logits)


def test_loading_a_file_of_another_method_or_model_configuration_fails_clearly(tmp_path):
    prompt_file = prompts.save(prompts.add_soft_prompt(random_t5(), prompts.PromptConfig(4), [5, 6, 7, 8]),
                               tmp_path / "prompts.pt")
    with pytest.raises(DataError, match="holds 'soft_prompt' weights, not 'adapter' weights"):
        adapters.load(random_t5(), prompt_file)
    adapter_file = adapters.save(trained_adapter_model(steps=1), tmp_path / "adapter.pt")
    with pytest.raises(DataError, match=r"another model configuration: d_ff=128 \(this model: 256\)"):
        adapters.load(random_t5(d_ff=256), adapter_file)
