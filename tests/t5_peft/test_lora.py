"""hwutils.t5_peft.lora: a frozen nn.Linear plus a low-rank update, merged and unmerged exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import T5Config

from hwutils.core.errors import ConfigError, DataError
from hwutils.t5_peft.fixtures import T5_SMALL_CONFIG, random_t5
from hwutils.core.models import count_parameters, on_meta_device
from hwutils.t5_peft import adapters, lora

CONFIG = lora.LoraConfig(r=4, alpha=8, dropout=0.0, target_modules=("q", "v"))


def inputs(vocab: int = 128, batch: int = 3, length: int = 7):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, vocab, (batch, length), generator=generator)
    mask = torch.ones_like(input_ids)
    mask[0, -2:] = 0  # one padded sequence
    return {"input_ids": input_ids, "attention_mask": mask, "labels": torch.randint(3, vocab, (batch, 2), generator=generator)}


def train_briefly(model, steps: int = 3, lr: float = 1e-2):
    """A few AdamW steps on the trainable parameters (shared by the scratch-method tests)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        model(**inputs()).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


def trained_lora_model(steps: int = 3):
    return train_briefly(lora.add_lora(random_t5(), CONFIG), steps)


def test_layer_starts_as_the_base_layer_and_keeps_its_shape():
    base = nn.Linear(16, 24)
    layer = lora.LoraLinear(base, r=4, alpha=8)
    x = torch.randn(2, 5, 16)
    assert layer(x).shape == (2, 5, 24)
    assert torch.equal(layer(x), base(x)), "B = 0 at initialisation: the output must be unchanged"
    assert not base.weight.requires_grad and layer.lora_A.weight.requires_grad and layer.lora_B.weight.requires_grad
    assert layer.scaling == 2.0


def test_model_output_unchanged_at_initialisation_and_shape_kept():
    reference = random_t5()
    model = lora.add_lora(random_t5(), CONFIG)
    with torch.no_grad():
        before, after = reference(**inputs()).logits, model(**inputs()).logits
    assert after.shape == before.shape
    assert torch.equal(after, before)


def test_only_lora_parameters_get_gradients_and_base_weights_stay_bit_identical():
    model = lora.add_lora(random_t5(), CONFIG)
    base_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**inputs()).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad and all(".lora_A." in n or ".lora_B." in n for n in with_grad)
    optimizer.step()
    for name, before in base_before.items():
        assert torch.equal(dict(model.named_parameters())[name], before), f"{name} changed"
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if ".lora_B." in n), "B must move after a step"


def test_targets_are_every_q_and_v_including_cross_attention():
    model = lora.add_lora(random_t5(), CONFIG)
    names = set(lora.lora_layers(model))
    assert len(names) == 2 * 2 + 2 * 4  # encoder: self q,v per layer; decoder: self and cross q,v per layer
    assert any("EncDecAttention.q" in n for n in names) and not any(n.endswith(".k") for n in names)
    only_self = lora.add_lora(random_t5(), lora.LoraConfig(target_modules=("SelfAttention.q",)))
    assert len(lora.lora_layers(only_self)) == 4


def test_unknown_target_fails_clearly():
    with pytest.raises(ConfigError, match="no nn.Linear matches"):
        lora.add_lora(random_t5(), lora.LoraConfig(target_modules=("query",)))


def test_merge_equals_unmerged_and_unmerge_restores_the_weights():
    model = trained_lora_model()
    weights = {n: m.base_layer.weight.detach().clone() for n, m in lora.lora_layers(model).items()}
    with torch.no_grad():
        unmerged = model(**inputs()).logits
        lora.merge_lora(model)
        assert all(layer.merged for layer in lora.lora_layers(model).values())
        merged = model(**inputs()).logits
        lora.unmerge_lora(model)
        again = model(**inputs()).logits
    assert (merged - unmerged).abs().max() < 1e-5
    assert (again - unmerged).abs().max() < 1e-5
    for name, layer in lora.lora_layers(model).items():
        assert torch.allclose(layer.base_layer.weight, weights[name], rtol=0, atol=1e-6)
    with pytest.warns(UserWarning, match="not merged"):
        next(iter(lora.lora_layers(model).values())).unmerge()


def test_merged_layer_is_a_plain_linear_with_the_delta():
    layer = lora.LoraLinear(nn.Linear(8, 6), r=2, alpha=4)
    nn.init.normal_(layer.lora_B.weight)
    x = torch.randn(4, 8)
    expected = layer(x)
    original = layer.base_layer.weight.detach().clone()
    delta = layer.lora_B.weight @ layer.lora_A.weight * 2  # scaling = alpha / r = 4 / 2
    assert torch.allclose(layer.get_delta_weight(), delta)
    layer.merge()
    assert torch.allclose(layer.base_layer.weight, original + delta)
    assert torch.allclose(nn.functional.linear(x, layer.base_layer.weight, layer.base_layer.bias), expected, atol=1e-6)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    with pytest.warns(UserWarning, match="already merged"):
        layer.merge()


@pytest.mark.parametrize("config", [CONFIG, lora.LoraConfig(r=2, target_modules=("q", "k", "v", "o", "wi", "wo")),
                                    lora.LoraConfig(r=3, target_modules=("EncDecAttention.v", "lm_head"))])
def test_analytic_count_equals_counted(config):
    model = lora.add_lora(random_t5(), config)
    assert lora.count_parameters(model.config, config) == count_parameters(model).trainable


def test_analytic_count_on_real_t5_small_and_gated_t5():
    from transformers import T5ForConditionalGeneration

    t5_small = T5Config(**T5_SMALL_CONFIG)
    config = lora.LoraConfig(r=8, target_modules=("q", "v"))
    assert lora.count_parameters(t5_small, config) == 294_912  # DESIGN.md's reference figure
    meta = lora.add_lora(on_meta_device(T5ForConditionalGeneration, t5_small), config)
    assert count_parameters(meta).trainable == 294_912
    gated = random_t5(feed_forward_proj="gated-gelu")
    wide = lora.LoraConfig(r=2, target_modules=("wi_0", "wi_1", "wo"))
    assert lora.count_parameters(gated.config, wide) == count_parameters(lora.add_lora(gated, wide)).trainable
    assert "8 × [(512 + 512) × 36]" in lora.parameter_formula(t5_small, config)


@pytest.mark.slow
def test_save_then_load_into_a_fresh_model_gives_identical_logits(tmp_path):
    model = trained_lora_model()
    path = lora.save(model, tmp_path / "lora.pt")
    saved = torch.load(path, weights_only=True)
    assert saved["method"] == "lora" and set(saved["state_dict"]) == set(lora.WEIGHTS.state_dict(model))
    assert all("lora_" in name for name in saved["state_dict"]), "only the LoRA tensors are saved"
    fresh = lora.load(random_t5(), path).eval()
    assert fresh.lora_config == CONFIG
    with torch.no_grad():
        assert torch.equal(fresh(**inputs()).logits, model(**inputs()).logits)


@pytest.mark.slow
def test_loading_a_file_of_another_method_or_model_configuration_fails_clearly(tmp_path):
    adapter_file = adapters.save(adapters.add_adapters(random_t5(), adapters.AdapterConfig(8)), tmp_path / "adapter.pt")
    with pytest.raises(DataError, match="holds 'adapter' weights, not 'lora' weights"):
        lora.load(random_t5(), adapter_file)
    lora_file = lora.save(trained_lora_model(), tmp_path / "lora.pt")
    with pytest.raises(DataError, match=r"another model configuration: d_model=64 \(this model: 32\)"):
        lora.load(random_t5(d_model=32), lora_file)
    with pytest.raises(DataError, match="num_layers=2 \\(this model: 3\\)"):
        lora.load(random_t5(num_layers=3), lora_file)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="not a weights file"):
        lora.load(random_t5(), tmp_path / "junk.pt")


def test_saving_a_merged_model_is_refused(tmp_path):
    model = trained_lora_model(steps=1)
    lora.merge_lora(model)
    with pytest.raises(ConfigError, match="unmerge"):
        lora.save(model, tmp_path / "lora.pt")


def test_added_layers_follow_the_models_mode():
    """from_pretrained returns a model in eval mode: LoRA's dropout must not switch on behind its back."""
    model = lora.add_lora(random_t5(), lora.LoraConfig(dropout=0.5))
    assert not any(m.training for m in model.modules())
    with torch.no_grad():
        assert torch.equal(model(**inputs()).logits, model(**inputs()).logits)


def test_merge_and_unload_gives_back_a_plain_t5_with_the_same_outputs():
    model = trained_lora_model()
    with torch.no_grad():
        before = model(**inputs()).logits
        plain = lora.merge_and_unload(model)
        after = plain(**inputs()).logits
    assert not lora.lora_layers(plain) and not hasattr(plain, "lora_config")
    assert set(plain.state_dict()) == set(random_t5().state_dict()), "the original architecture, parameter for parameter"
    assert (after - before).abs().max() < 1e-5
