"""peft modules on a base model: creation with a seeded initialisation, and swapping composed weights in.

A composed module is only a new state dict: to evaluate it, :class:`ModuleSlot` keeps one peft
model per PEFT method and loads any state dict of the same layout into its adapter
(``peft.set_peft_model_state_dict``), so a λ sweep of twenty compositions loads the base model once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from hwutils.core import models
from hwutils.core.errors import ConfigError

METHODS = ("lora", "ia3")


def peft_config(method: str, task_type: str, *, lora_r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0,
                lora_targets: list[str] | None = None, ia3_targets: list[str] | None = None,
                ia3_feedforward: list[str] | None = None, fan_in_fan_out: bool = False):
    """The peft configuration of ``method`` (``"lora"`` or ``"ia3"``) for a ``task_type`` such as
    ``"SEQ_2_SEQ_LM"`` or ``"CAUSAL_LM"``; target lists left empty use peft's defaults for the
    architecture. ``fan_in_fan_out`` is True for GPT-2, whose ``Conv1D`` layers store ``W`` transposed."""
    from peft import IA3Config, LoraConfig

    if method == "lora":
        return LoraConfig(task_type=task_type, r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                          target_modules=lora_targets or None, fan_in_fan_out=fan_in_fan_out)
    if method == "ia3":
        return IA3Config(task_type=task_type, target_modules=ia3_targets or None,
                         feedforward_modules=ia3_feedforward or None, fan_in_fan_out=fan_in_fan_out)
    raise ConfigError(f"unknown PEFT method {method!r}; valid methods: {', '.join(METHODS)}")


def config_from_settings(method: str, settings: Mapping[str, Any], task_type: str, **changes: Any):
    """:func:`peft_config` with the notebook's settings (``lora_r``, ``lora_alpha``, ``lora_dropout``,
    ``lora_targets``; (IA)³ on peft's default targets), optionally changed (e.g. ``lora_r=16``)."""
    names = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets")
    return peft_config(method, task_type, **{**{n: settings[n] for n in names}, **changes})


def attach_module(base_model: torch.nn.Module, config: Any, init_seed: int):
    """``get_peft_model(base_model, config)`` with the module's random initialisation drawn from
    ``init_seed`` (LoRA's ``A``; ``B`` starts at zero and (IA)³'s vectors at one either way), without
    touching the caller's random state. Two modules built with the same seed start identical."""
    from peft import get_peft_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return get_peft_model(base_model, config)


def module_state(peft_model) -> dict[str, torch.Tensor]:
    """The adapter's parameters (a detached CPU copy): the object the arithmetic works on."""
    from peft import get_peft_model_state_dict

    return {n: t.detach().to("cpu", copy=True) for n, t in get_peft_model_state_dict(peft_model).items()}


def load_module_state(peft_model, state: Mapping[str, torch.Tensor]) -> None:
    """Put ``state`` into the adapter of ``peft_model``; every parameter must be used."""
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(peft_model, dict(state))
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ConfigError(f"the module does not fit this model: {len(unexpected)} unused parameters, e.g. {unexpected[:2]}")


class ModuleSlot:
    """One base model wrapped with one adapter, into which composed modules are loaded in turn.

    >>> slot = ModuleSlot(peft_model)              # doctest: +SKIP
    >>> with slot.holding(add([a, b], [0.5, 0.5])):  # doctest: +SKIP
    ...     accuracy = evaluate(slot.model)
    """

    def __init__(self, peft_model):
        self.model = peft_model.eval()
        self._empty = module_state(peft_model)

    @contextlib.contextmanager
    def holding(self, state: Mapping[str, torch.Tensor]) -> Iterator[Any]:
        """The model with ``state`` loaded into its adapter (reset afterwards)."""
        load_module_state(self.model, state)
        try:
            yield self.model
        finally:
            load_module_state(self.model, self._empty)

    @contextlib.contextmanager
    def base(self) -> Iterator[Any]:
        """The base model itself: the adapter switched off."""
        with self.model.disable_adapter():
            yield self.model


def counted_module_parameters(peft_model) -> models.ParameterCount:
    """Trainable (the adapter's) and total parameters of a peft model, counted from its tensors."""
    return models.count_parameters(peft_model)
