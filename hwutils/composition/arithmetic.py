"""Arithmetic on parameter-efficient modules (PEMs): scaling, negation, addition, analogy.

A module is the state dict of one peft adapter (``peft.get_peft_model_state_dict``): for LoRA the
matrices ``lora_A`` (r x in) and ``lora_B`` (out x r) of every wrapped layer, whose update is
``ΔW = (alpha / r) B A``; for (IA)³ the vectors ``ia3_l`` that rescale a layer, ``W' = l ⊙ W``
(``ΔW = (l - 1) ⊙ W``). Zhang et al. (2023) define, and this module implements:

* **addition** ``θ₁ ⊕ θ₂``: element-wise on the module's parameters; with weights,
  ``λ·θ₁ + (1 - λ)·θ₂`` (:func:`add` takes any weights, so plain sums are ``weights=(1, 1)``).
  For (IA)³ the vectors are added as deviations from the identity ``l = 1`` (the module that does
  nothing), ``1 + Σ wᵢ (lᵢ - 1)``: for weights that sum to 1 this is exactly the paper's
  ``Σ wᵢ lᵢ``, and a plain sum of two modules then adds their two updates, not their two identities.
* **negation** ``⊖θ``: the module whose update is the opposite one. LoRA: negate **one** factor
  (``B``): ``(-B) A = -ΔW``; negating both would give back ``(-B)(-A) = +ΔW``. (IA)³: the paper's
  rule ``l -> 2 - l``, i.e. the deviation ``l - 1`` changes sign, so ``ΔW -> -ΔW``.
* **scaling** ``λ ⊙ θ``: the module whose update is ``λ ΔW`` (LoRA: ``λ B``; (IA)³: ``1 + λ (l - 1)``),
  used for the negation strength of unlearning, ``⊖(λ ⊙ θ)``.

Why addition is exact for (IA)³ but not for LoRA: ``ΔW`` is linear in ``l`` but *bilinear* in
``(B, A)``. Adding LoRA modules element-wise gives
``(w₁B₁ + w₂B₂)(w₁A₁ + w₂A₂) = w₁²B₁A₁ + w₂²B₂A₂ + w₁w₂(B₁A₂ + B₂A₁)``: the cross terms vanish
into ``w₁B₁A + w₂B₂A`` only when the modules share ``A`` and ``w₁ + w₂ = 1``. Modules trained from
the same initial ``A`` stay close to it, which is why the paper composes modules with a shared
initialisation (question c). :func:`concatenate_lora` is the exact sum for any modules (it stacks
the ranks, as peft's ``add_weighted_adapter(combination_type="cat")`` does), at twice the rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from hwutils.core.errors import ConfigError

State = Mapping[str, torch.Tensor]
LORA_A, LORA_B, IA3 = "lora_A", "lora_B", "ia3_l"


def module_kind(state: State) -> str:
    """``"lora"`` or ``"ia3"``, read from the parameter names of a peft adapter state dict."""
    names = list(state)
    if names and all(LORA_A in n or LORA_B in n for n in names):
        return "lora"
    if names and all(IA3 in n for n in names):
        return "ia3"
    raise ConfigError("not a LoRA or (IA)³ module: expected parameter names containing 'lora_A'/'lora_B' or "
                      f"'ia3_l', got e.g. {names[:3]}")


def scale(state: State, factor: float) -> dict[str, torch.Tensor]:
    """``factor ⊙ θ``: the module whose weight update is ``factor`` times ``θ``'s."""
    if module_kind(state) == "lora":  # ΔW = B A is linear in B alone
        return {n: t * factor if LORA_B in n else t.clone() for n, t in state.items()}
    return {n: 1 + factor * (t - 1) for n, t in state.items()}


def negate(state: State) -> dict[str, torch.Tensor]:
    """``⊖θ``: the module whose weight update is the opposite of ``θ``'s (LoRA: ``-B``; (IA)³: ``2 - l``)."""
    return scale(state, -1.0)


def add(states: Sequence[State], weights: Sequence[float] | None = None) -> dict[str, torch.Tensor]:
    """``Σ wᵢ θᵢ`` element-wise (plain sum when ``weights`` is None); (IA)³ vectors as deviations from 1.

    For two modules, ``add([θ₁, θ₂], [λ, 1 - λ])`` is the paper's ``λ·θ₁ + (1 - λ)·θ₂``.
    """
    weights = [1.0] * len(states) if weights is None else list(weights)
    if not states or len(weights) != len(states):
        raise ConfigError(f"add needs one weight per module: {len(states)} modules, {len(weights)} weights")
    kind = _same_layout(states)
    if kind == "lora":
        return {n: sum(w * s[n] for w, s in zip(weights, states)) for n in states[0]}
    return {n: 1 + sum(w * (s[n] - 1) for w, s in zip(weights, states)) for n in states[0]}


def analogy(classifier: State, target_lm: State, source_lm: State, lam: float) -> dict[str, torch.Tensor]:
    """Domain transfer by analogy: ``λ·θ_cls(source) + (1 - λ)·(θ_lm(target) ⊕ ⊖θ_lm(source))``."""
    return add([classifier, target_lm, negate(source_lm)], [lam, 1 - lam, 1 - lam])


def concatenate_lora(states: Sequence[State], weights: Sequence[float] | None = None) -> dict[str, torch.Tensor]:
    """The exact weighted sum of LoRA updates, ``Σ wᵢ Bᵢ Aᵢ``, as one module of rank ``Σ rᵢ``:
    ``A = [A₁; A₂; ...]`` stacked along the rank, ``B = [w₁B₁, w₂B₂, ...]``. Load it into a LoRA
    model whose rank is the sum of the ranks and whose ``lora_alpha / r`` scaling is the same."""
    weights = [1.0] * len(states) if weights is None else list(weights)
    if _same_layout(states) != "lora":
        raise ConfigError("concatenate_lora composes LoRA modules only; (IA)³ addition is already exact")
    combined = {}
    for name in states[0]:
        if LORA_A in name:
            combined[name] = torch.cat([s[name] for s in states], dim=0)
        else:
            combined[name] = torch.cat([w * s[name] for w, s in zip(weights, states)], dim=1)
    return combined


def _same_layout(states: Sequence[State]) -> str:
    kinds = {module_kind(s) for s in states}
    if len(kinds) != 1:
        raise ConfigError(f"cannot compose modules of different kinds ({', '.join(sorted(kinds))}): "
                          "arithmetic needs modules of one PEFT method on one base model")
    reference = states[0]
    for state in states[1:]:
        if set(state) != set(reference):
            raise ConfigError("cannot compose modules that wrap different layers (their parameter names differ)")
        for name, tensor in state.items():
            if tensor.shape != reference[name].shape:
                raise ConfigError(f"cannot compose modules of different shapes: {name} is {tuple(tensor.shape)} "
                                  f"in one and {tuple(reference[name].shape)} in the other (same rank needed)")
    return kinds.pop()
