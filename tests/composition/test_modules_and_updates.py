"""peft glue (seeded modules, swapping states) and the weight updates read from peft's layers."""

from __future__ import annotations

import pytest
import torch

from hwutils.composition import updates
from hwutils.composition.modules import ModuleSlot, load_module_state, module_state
from hwutils.core.errors import ConfigError
from tests.composition.helpers import trained_like, wrapped


@pytest.mark.parametrize("method, architecture, layers", [("lora", "t5", 8), ("ia3", "t5", 11), ("lora", "gpt2", 2), ("ia3", "gpt2", 4)])
def test_weight_updates_are_what_peft_merges_into_the_base(method, architecture, layers):
    """ΔW read from the layers (LoRA: scaling·B A; (IA)³: (l - 1) ⊙ W, GPT-2's Conv1D transposed) equals
    merged weight - base weight."""
    model, state = trained_like(method, architecture)
    load_module_state(model, state)
    delta = updates.weight_updates(model)
    before = {n: p.detach().clone() for n, p in model.get_base_model().named_parameters()}
    model.merge_adapter()
    after = dict(model.get_base_model().named_parameters())
    for layer, update in delta.items():
        weight = layer.removeprefix("base_model.model.") + ".base_layer.weight"
        torch.testing.assert_close(after[weight].detach() - before[weight], update, atol=1e-6, rtol=1e-5)
    # T5 helper: 4 attentions (2 encoder, decoder self + cross) with q, v (LoRA) or k, v + 3 feed-forward wo ((IA)³)
    assert len(delta) == layers


def test_modules_built_with_one_seed_start_identical_and_with_two_seeds_differ():
    same = [module_state(wrapped("lora", init_seed=3)) for _ in range(2)]
    other = module_state(wrapped("lora", init_seed=4))
    a_names = [n for n in same[0] if "lora_A" in n]
    assert all(torch.equal(same[0][n], same[1][n]) for n in same[0])
    assert all(not torch.equal(same[0][n], other[n]) for n in a_names)
    assert all(torch.count_nonzero(same[0][n]) == 0 for n in same[0] if "lora_B" in n)  # B starts at zero
    assert abs(updates.cosine(updates.matching(same[0], "lora_A"), updates.matching(other, "lora_A"))) < 0.2


def test_attaching_a_module_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    wrapped("lora", init_seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_slot_holds_a_state_then_returns_to_the_empty_module():
    model, state = trained_like("lora")
    slot = ModuleSlot(model)
    empty = module_state(slot.model)
    with slot.holding(state) as held:
        assert all(torch.equal(module_state(held)[n], state[n]) for n in state)
    assert all(torch.equal(module_state(slot.model)[n], empty[n]) for n in empty)
    ids = torch.tensor([[4, 5, 6, 1]])
    with slot.holding(state) as held, torch.no_grad():
        changed = held(input_ids=ids, decoder_input_ids=torch.tensor([[0]])).logits
    with slot.base() as base, torch.no_grad():
        plain = base(input_ids=ids, decoder_input_ids=torch.tensor([[0]])).logits
    assert not torch.allclose(changed, plain)


def test_a_state_for_other_layers_is_refused():
    model = wrapped("lora")
    with pytest.raises(ConfigError, match="does not fit"):
        load_module_state(model, {"base_model.model.encoder.block.9.layer.0.SelfAttention.q.lora_A.weight": torch.zeros(4, 32)})


def test_cosine_and_relative_distance():
    first = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([[0.0, 2.0]])}
    assert updates.cosine(first, first) == pytest.approx(1.0)
    assert updates.cosine(first, {"a": torch.tensor([0.0, 1.0]), "b": torch.tensor([[0.0, 0.0]])}) == pytest.approx(0.0)
    assert updates.cosine(first, {k: -v for k, v in first.items()}) == pytest.approx(-1.0)
    assert updates.relative_distance(first, first) == 0.0
    assert updates.relative_distance({k: 2 * v for k, v in first.items()}, first) == pytest.approx(1.0)
    combined = updates.combine([first, first], [0.25, 0.5])
    torch.testing.assert_close(combined["b"], torch.tensor([[0.0, 1.5]]))
