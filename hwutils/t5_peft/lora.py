"""LoRA from scratch: a frozen ``nn.Linear`` plus a trainable low-rank update, in the style of peft's
``tuners/lora/layer.py``.

For a frozen weight ``W`` (``d_out x d_in``), LoRA learns ``A`` (``r x d_in``) and ``B``
(``d_out x r``) and computes ``W x + (alpha / r) * B A dropout(x)``. ``A`` starts random and ``B``
at zero, so the wrapped model starts out computing exactly what the base model computes. After
training, ``B A`` can be **merged** into ``W`` (no extra cost at inference) and unmerged again.

>>> model = add_lora(t5_model, LoraConfig(r=8, alpha=16, target_modules=("q", "v")))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.core.models import freeze, lora_parameters
from hwutils.t5_peft import t5_layout
from hwutils.t5_peft.weights import MethodWeights


@dataclass(frozen=True)
class LoraConfig:
    """LoRA's hyper-parameters: rank ``r``, scale ``alpha`` (the update is multiplied by ``alpha / r``),
    dropout on the LoRA branch's input, and the name patterns of the ``nn.Linear`` layers to adapt."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q", "v")

    def __post_init__(self):
        if self.r < 1:
            raise ConfigError(f"LoRA rank r must be at least 1, got {self.r}")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))


class LoraLinear(nn.Module):
    """``base_layer(x) + scaling * lora_B(lora_A(dropout(x)))`` with ``base_layer`` frozen."""

    def __init__(self, base_layer: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise ConfigError(f"LoRA wraps nn.Linear layers, not {type(base_layer).__name__}")
        self.base_layer = base_layer.requires_grad_(False)
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features
        self.r, self.lora_alpha, self.scaling = r, alpha, alpha / r
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        factory = {"device": base_layer.weight.device, "dtype": base_layer.weight.dtype}
        self.lora_A = nn.Linear(self.in_features, r, bias=False, **factory)
        self.lora_B = nn.Linear(r, self.out_features, bias=False, **factory)
        self.merged = False
        self.reset_lora_parameters()
        self.train(base_layer.training)  # a layer added to a model in eval mode must not start dropping out

    def reset_lora_parameters(self) -> None:
        # A as nn.Linear's default (Kaiming-uniform, as peft and loralib do), B at zero: B A = 0 at the start.
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def get_delta_weight(self) -> torch.Tensor:
        """The update ``scaling * B A`` in the shape of the base weight (``d_out x d_in``)."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling

    def merge(self) -> None:
        """Add the update into the base weight: afterwards the layer costs what a plain Linear costs."""
        if self.merged:
            warnings.warn("LoRA layer is already merged; nothing to do")
            return
        self.base_layer.weight.data += self.get_delta_weight()
        self.merged = True

    def unmerge(self) -> None:
        """Subtract the update again (exact up to one floating-point rounding per weight)."""
        if not self.merged:
            warnings.warn("LoRA layer is not merged; nothing to do")
            return
        self.base_layer.weight.data -= self.get_delta_weight()
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base_layer(x)
        if self.merged:  # the update is inside base_layer's weight already
            return result
        return result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    def extra_repr(self) -> str:
        return f"r={self.r}, lora_alpha={self.lora_alpha}, merged={self.merged}"


def add_lora(model: nn.Module, config: LoraConfig) -> nn.Module:
    """Freeze ``model`` and replace every ``nn.Linear`` matching ``config.target_modules`` by a
    :class:`LoraLinear`; returns the same model, which remembers ``config`` as ``model.lora_config``."""
    freeze(model)
    targets = [name for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and t5_layout.matches(name, config.target_modules)]
    if not targets:
        linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ConfigError(f"no nn.Linear matches target_modules={config.target_modules}; linear layers are named "
                          f"like {', '.join(linear[:4])}")
    for name in targets:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child_name, LoraLinear(getattr(parent, child_name), config.r, config.alpha, config.dropout))
    model.lora_config = config
    return model


def lora_layers(model: nn.Module) -> dict[str, LoraLinear]:
    return {name: module for name, module in model.named_modules() if isinstance(module, LoraLinear)}


def merge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.unmerge()


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every LoRA update into its base weight and put the plain ``nn.Linear`` back in place of
    the wrapper: the result is the original architecture again (as peft's ``merge_and_unload``)."""
    for name, layer in lora_layers(model).items():
        if not layer.merged:
            layer.merge()
        parent_name, _, child_name = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child_name, layer.base_layer)
    if hasattr(model, "lora_config"):
        del model.lora_config
    return model


def count_parameters(model_config, config: LoraConfig) -> int:
    """Trainable parameters of LoRA on a T5 with ``model_config``, from the two alone:
    ``r * (d_in + d_out)`` for every adapted matrix (:func:`hwutils.core.models.lora_parameters`)."""
    return sum(lora_parameters({layer.name: (layer.in_features, layer.out_features)}, config.r, [layer.name],
                               layers=layer.count)
               for layer in t5_layout.matching_linear_layers(model_config, config.target_modules))


def parameter_formula(model_config, config: LoraConfig) -> str:
    """:func:`count_parameters` written out with this configuration's numbers."""
    terms = {}
    for layer in t5_layout.matching_linear_layers(model_config, config.target_modules):
        key = (layer.in_features, layer.out_features)
        terms[key] = terms.get(key, 0) + layer.count
    sums = " + ".join(f"({d_in} + {d_out}) × {n}" for (d_in, d_out), n in terms.items())
    return f"r × Σ (d_in + d_out) × matrices = {config.r} × [{sums}]"


def _refuse_merged(model: nn.Module) -> None:
    if any(layer.merged for layer in lora_layers(model).values()):
        raise ConfigError("unmerge the LoRA layers before saving: a merged base weight already contains B A")


# lora.pt: only the A and B matrices, with the LoRA configuration (see hwutils.t5_peft.weights)
WEIGHTS = MethodWeights("lora", LoraConfig, "lora_config", add_lora,
                        is_own=lambda name: ".lora_A." in name or ".lora_B." in name, check_savable=_refuse_merged)
save, load = WEIGHTS.save, WEIGHTS.load
