"""The operators of hwutils.composition.arithmetic, checked on peft modules and on the weights they make."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, set_peft_model_state_dict

from hwutils.composition import arithmetic
from hwutils.composition.modules import load_module_state, module_state
from hwutils.composition.updates import combine, weight_updates
from hwutils.core.errors import ConfigError
from tests.composition.helpers import perturbed, trained_like, wrapped

METHODS = ["lora", "ia3"]


def updates_with(model, state):
    load_module_state(model, state)
    return weight_updates(model)


def assert_updates_close(actual, expected, atol=1e-6):
    assert actual.keys() == expected.keys()
    for name in actual:
        torch.testing.assert_close(actual[name], expected[name], atol=atol, rtol=1e-5, msg=name)


def t5_outputs(model):
    ids = torch.tensor([[5, 9, 14, 22, 1], [7, 3, 30, 1, 0]])
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=(ids != 0).long(), decoder_input_ids=torch.tensor([[0, 4], [0, 8]])).logits


@pytest.mark.parametrize("method", METHODS)
def test_negating_twice_restores_the_module(method):
    _, state = trained_like(method)
    twice = arithmetic.negate(arithmetic.negate(state))
    assert twice.keys() == state.keys()
    for name in state:
        torch.testing.assert_close(twice[name], state[name], rtol=0, atol=1e-7)


@pytest.mark.parametrize("method, architecture", [("lora", "t5"), ("ia3", "t5"), ("lora", "gpt2"), ("ia3", "gpt2")])
def test_negation_flips_the_weight_update(method, architecture):
    """⊖θ makes the opposite update: for LoRA one factor is negated (negating both would leave ΔW unchanged)."""
    model, state = trained_like(method, architecture)
    update = updates_with(model, state)
    assert any(u.abs().max() > 1e-3 for u in update.values())
    assert_updates_close(updates_with(model, arithmetic.negate(state)), {n: -u for n, u in update.items()})


@pytest.mark.parametrize("method", METHODS)
def test_scaling_scales_the_weight_update(method):
    model, state = trained_like(method)
    update = updates_with(model, state)
    assert_updates_close(updates_with(model, arithmetic.scale(state, 0.35)), {n: 0.35 * u for n, u in update.items()})


@pytest.mark.parametrize("method", METHODS)
def test_adding_a_negated_module_to_itself_gives_the_base_models_outputs(method):
    model, state = trained_like(method)
    with model.disable_adapter():
        base = t5_outputs(model)
    load_module_state(model, state)
    assert not torch.allclose(t5_outputs(model), base, atol=1e-4), "the module should change the outputs"
    load_module_state(model, arithmetic.add([state, arithmetic.negate(state)]))
    torch.testing.assert_close(t5_outputs(model), base, atol=1e-5, rtol=1e-5)


def test_lora_sum_of_modules_sharing_a_merges_to_the_sum_of_their_updates():
    """Modules trained from one initialisation share A: λ·θ₁ + (1 − λ)·θ₂ then makes exactly λ·ΔW₁ + (1 − λ)·ΔW₂."""
    model, first = trained_like("lora", noise_seed=1)
    second = perturbed(first, 2, ("lora_B",))
    updates = [updates_with(model, first), updates_with(model, second)]
    for lam in (0.5, 0.3):
        composed = updates_with(model, arithmetic.add([first, second], [lam, 1 - lam]))
        assert_updates_close(composed, combine(updates, [lam, 1 - lam]))


def test_lora_merged_weight_of_a_sum_equals_base_plus_the_sum_of_the_merged_updates():
    """The same identity on the merged weights themselves (peft's merge_and_unload)."""
    model, first = trained_like("lora", noise_seed=1)
    second = perturbed(first, 2, ("lora_B",))
    base = {n: p.detach().clone() for n, p in model.get_base_model().named_parameters() if "lora" not in n}
    merged = []
    for state in (first, second, arithmetic.add([first, second], [0.5, 0.5])):
        load_module_state(model, state)
        model.merge_adapter()
        merged.append({n: p.detach().clone() for n, p in model.get_base_model().named_parameters() if "lora" not in n})
        model.unmerge_adapter()
    changed = [n for n in base if not torch.equal(merged[0][n], base[n])]
    assert changed, "merging the module should change some base weights"
    for name in base:
        expected = base[name] + 0.5 * (merged[0][name] - base[name]) + 0.5 * (merged[1][name] - base[name])
        torch.testing.assert_close(merged[2][name], expected, atol=1e-6, rtol=1e-5, msg=name)


def test_lora_elementwise_sum_with_different_a_differs_by_exactly_the_cross_terms():
    """(w₁B₁ + w₂B₂)(w₁A₁ + w₂A₂) = w₁²B₁A₁ + w₂²B₂A₂ + w₁w₂(B₁A₂ + B₂A₁), checked layer by layer."""
    model, first = trained_like("lora", init_seed=0, noise_seed=1)
    second = perturbed(module_state(wrapped("lora", init_seed=5)), 2, ("lora_B",))
    w1, w2 = 0.6, 0.4
    composed = updates_with(model, arithmetic.add([first, second], [w1, w2]))
    layers = {n.rsplit(".lora_A", 1)[0] for n in first if "lora_A" in n}
    scaling = 8 / 4  # lora_alpha / r of the helpers
    for layer in layers:
        a1, b1 = first[f"{layer}.lora_A.weight"], first[f"{layer}.lora_B.weight"]
        a2, b2 = second[f"{layer}.lora_A.weight"], second[f"{layer}.lora_B.weight"]
        expected = scaling * (w1**2 * b1 @ a1 + w2**2 * b2 @ a2 + w1 * w2 * (b1 @ a2 + b2 @ a1))
        name = layer.removeprefix("base_model.model.")
        key = next(k for k in composed if k.endswith(name))
        torch.testing.assert_close(composed[key], expected, atol=1e-6, rtol=1e-5)
    naive = combine([updates_with(model, first), updates_with(model, second)], [w1, w2])
    assert max((composed[n] - naive[n]).abs().max() for n in naive) > 1e-3, "different A's must leave cross terms"


def test_concatenated_lora_sum_merges_to_the_exact_sum_of_updates_for_any_initialisations():
    model, first = trained_like("lora", init_seed=0, noise_seed=1)
    second = perturbed(module_state(wrapped("lora", init_seed=5)), 2, ("lora_B",))
    expected = combine([updates_with(model, first), updates_with(model, second)], [1.0, 0.5])
    wide = wrapped("lora", lora_r=8, lora_alpha=16)  # twice the rank, the same alpha / r
    assert_updates_close(updates_with(wide, arithmetic.concatenate_lora([first, second], [1.0, 0.5])), expected, atol=1e-5)


def test_concatenation_agrees_with_peft_add_weighted_adapter_cat():
    """The exact sum is what peft itself builds with add_weighted_adapter(combination_type="cat")."""
    model, first = trained_like("lora", noise_seed=1)
    second = perturbed(first, 2, ("lora_B",))

    model.add_adapter("second", LoraConfig(task_type="SEQ_2_SEQ_LM", r=4, lora_alpha=8, target_modules=["q", "v"]))
    load_module_state(model, first)
    set_peft_model_state_dict(model, second, adapter_name="second")
    model.add_weighted_adapter(["default", "second"], [1.0, 0.5], "both", combination_type="cat")
    ours = arithmetic.concatenate_lora([first, second], [1.0, 0.5])
    model.set_adapter("both")
    theirs = weight_updates(model, adapter="both")
    assert_updates_close(updates_with(wrapped("lora", lora_r=8, lora_alpha=16), ours), theirs, atol=1e-5)


@pytest.mark.parametrize("weights", [[0.7, 0.3], [1.0, 1.0], [1.0, -1.0]])
def test_ia3_sums_merge_to_the_weighted_sum_of_updates(weights):
    """(IA)³ is linear in its vectors once they are read as deviations from 1: every weighted sum is exact."""
    model, first = trained_like("ia3", noise_seed=1)
    second = perturbed(first, 2)
    expected = combine([updates_with(model, first), updates_with(model, second)], weights)
    assert_updates_close(updates_with(model, arithmetic.add([first, second], weights)), expected, atol=1e-5)


def test_ia3_weighted_addition_is_the_papers_convex_combination_of_vectors():
    _, first = trained_like("ia3", noise_seed=1)
    second = perturbed(first, 2)
    composed = arithmetic.add([first, second], [0.3, 0.7])
    for name in first:
        torch.testing.assert_close(composed[name], 0.3 * first[name] + 0.7 * second[name])


def test_ia3_negation_is_two_minus_l():
    _, state = trained_like("ia3")
    for name, vector in arithmetic.negate(state).items():
        torch.testing.assert_close(vector, 2 - state[name])


def test_analogy_is_weighted_addition_with_the_source_lm_negated():
    _, cls = trained_like("lora", noise_seed=1)
    target, source = perturbed(cls, 2, ("lora_B",)), perturbed(cls, 3, ("lora_B",))
    expected = arithmetic.add([cls, target, arithmetic.negate(source)], [0.8, 0.2, 0.2])
    for name, tensor in arithmetic.analogy(cls, target, source, 0.8).items():
        torch.testing.assert_close(tensor, expected[name])


def test_modules_of_different_kinds_or_shapes_do_not_compose():
    _, lora = trained_like("lora")
    _, ia3 = trained_like("ia3")
    with pytest.raises(ConfigError, match="different kinds"):
        arithmetic.add([lora, ia3])
    wide = module_state(wrapped("lora", lora_r=8, lora_alpha=16))
    with pytest.raises(ConfigError, match="same rank"):
        arithmetic.add([lora, wide])
    with pytest.raises(ConfigError, match="not a LoRA or"):
        arithmetic.module_kind({"encoder.weight": torch.zeros(2)})
