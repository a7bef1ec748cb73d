"""What a module does to the base weights: its update ``ΔW`` per layer, and how two updates compare.

The arithmetic acts on a module's parameters; what the base model feels is the weight update
``ΔW`` of each wrapped layer. :func:`weight_updates` reads it from peft's own layers (LoRA:
``scaling · B A``, via ``get_delta_weight``; (IA)³: ``(l - 1) ⊙ W``, the difference peft's ``merge``
makes), so that the notebook can check the algebra of :mod:`hwutils.composition.arithmetic` on the
weights themselves and measure how similar two modules' updates are.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

Updates = Mapping[str, torch.Tensor]


@torch.no_grad()
def weight_updates(peft_model, adapter: str = "default") -> dict[str, torch.Tensor]:
    """``ΔW`` of every layer the adapter wraps (float32, on the CPU), keyed by the layer's name."""
    from peft.tuners.ia3 import IA3Layer
    from peft.tuners.lora import LoraLayer
    from peft.utils import transpose

    updates = {}
    for name, layer in peft_model.named_modules():
        if isinstance(layer, LoraLayer) and adapter in layer.lora_A:
            updates[name] = layer.get_delta_weight(adapter).float().cpu()
        elif isinstance(layer, IA3Layer) and adapter in layer.ia3_l:
            scaling = transpose(layer.ia3_l[adapter].data, layer.fan_in_fan_out)
            weight = layer.get_base_layer().weight
            updates[name] = (weight * (scaling - 1)).float().cpu()
    return updates


def combine(updates: list[Updates], weights: list[float]) -> dict[str, torch.Tensor]:
    """``Σ wᵢ ΔWᵢ`` layer by layer: the update an exact weighted sum of modules would make."""
    return {name: sum(w * u[name] for w, u in zip(weights, updates)) for name in updates[0]}


def flat(updates: Updates) -> torch.Tensor:
    """All layers' updates as one vector (layers in name order)."""
    return torch.cat([updates[name].flatten() for name in sorted(updates)])


def cosine(first: Updates | Mapping[str, torch.Tensor], second: Updates | Mapping[str, torch.Tensor]) -> float:
    """Cosine similarity of two sets of tensors with the same names (updates, or module parameters)."""
    return float(torch.nn.functional.cosine_similarity(flat(first), flat(second), dim=0))


def relative_distance(actual: Updates, expected: Updates) -> float:
    """``‖actual - expected‖ / ‖expected‖`` over all layers: 0 when the updates are identical."""
    return float((flat(actual) - flat(expected)).norm() / flat(expected).norm().clamp_min(1e-12))


def matching(state: Mapping[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    """The tensors of a module whose names contain ``part`` (e.g. ``"lora_A"``)."""
    return {name: tensor for name, tensor in state.items() if part in name}


def loaded_updates(slot, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weight updates of module ``state`` once loaded into ``slot`` (a :class:`ModuleSlot`)."""
    with slot.holding(state) as model:
        return weight_updates(model)
