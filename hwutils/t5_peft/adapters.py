"""Bottleneck adapters from scratch: small residual MLPs inserted into a frozen T5.

An adapter maps a hidden state ``h`` (width ``d_model``) to ``h + up(act(down(h)))`` with
``down: d_model -> m`` and ``up: m -> d_model``, where ``m = d_model // reduction_factor``. The
up-projection starts at zero, so each adapter starts as the identity and the model's output is
unchanged until training moves it (the down-projection is random, so the first gradient step
already reaches the up-projection).

Placement (Pfeiffer et al., 2020): after the feed-forward block of every encoder and decoder layer.
Houlsby et al. (2019) also put one after every attention block (here: self-attention and, in the
decoder, cross-attention). Adapters act on the block's output before T5 adds the residual stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.core.models import freeze
from hwutils.t5_peft import t5_layout
from hwutils.t5_peft.weights import MethodWeights

# The T5 blocks an adapter follows, per placement.
PLACEMENTS = {
    "pfeiffer": ("DenseReluDense",),
    "houlsby": ("SelfAttention", "EncDecAttention", "DenseReluDense"),
}
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class AdapterConfig:
    """Bottleneck width ``d_model // reduction_factor``, where the adapters go, and their non-linearity."""

    reduction_factor: int = 16
    placement: str = "pfeiffer"
    activation: str = "relu"

    def __post_init__(self):
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"unknown adapter placement {self.placement!r}; valid: {', '.join(PLACEMENTS)}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")

    def bottleneck(self, d_model: int) -> int:
        size = d_model // self.reduction_factor
        if size < 1:
            raise ConfigError(f"reduction_factor {self.reduction_factor} leaves no bottleneck for d_model={d_model}")
        return size


class BottleneckAdapter(nn.Module):
    """``h + up(act(down(h)))``: a residual two-layer MLP through a narrow bottleneck."""

    def __init__(self, d_model: int, bottleneck: int, activation: str = "relu"):
        super().__init__()
        self.down = nn.Linear(d_model, bottleneck)
        self.activation = ACTIVATIONS[activation]()
        self.up = nn.Linear(bottleneck, d_model)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)  # identity at the start: the model's output is unchanged
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.up(self.activation(self.down(hidden_states)))


class WithAdapter(nn.Module):
    """Runs the frozen ``base_layer``, then the adapter on its output (on the first element when the
    block returns a tuple, as T5's attention does: ``(hidden_states, position_bias, ...)``)."""

    def __init__(self, base_layer: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.base_layer = base_layer
        self.adapter = adapter
        self.train(base_layer.training)  # join the model in the mode it is in

    def forward(self, *args, **kwargs):
        output = self.base_layer(*args, **kwargs)
        if isinstance(output, tuple):
            return (self.adapter(output[0]),) + output[1:]
        return self.adapter(output)


def add_adapters(model: nn.Module, config: AdapterConfig) -> nn.Module:
    """Freeze ``model`` and put a :class:`BottleneckAdapter` after every block of ``config.placement``;
    returns the same model, which remembers ``config`` as ``model.adapter_config``."""
    freeze(model)
    d_model = model.config.d_model
    blocks = PLACEMENTS[config.placement]
    targets = [name for name, _ in model.named_modules() if name.rpartition(".")[2] in blocks]
    if not targets:
        raise ConfigError(f"no block named {', '.join(blocks)} in this model: the placements describe T5 models")
    for name in targets:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        block = getattr(parent, child_name)
        reference = next(block.parameters())
        adapter = BottleneckAdapter(d_model, config.bottleneck(d_model), config.activation)
        setattr(parent, child_name, WithAdapter(block, adapter.to(reference.device, reference.dtype)))
    model.adapter_config = config
    return model


def count_parameters(model_config, config: AdapterConfig) -> int:
    """Trainable parameters of the adapters on a T5 with ``model_config``: per adapter
    ``d_model·m + m`` (down) ``+ m·d_model + d_model`` (up), times the number of adapted blocks."""
    d_model = model_config.d_model
    m = config.bottleneck(d_model)
    blocks = t5_layout.block_counts(model_config)
    return (2 * d_model * m + m + d_model) * sum(blocks[b] for b in PLACEMENTS[config.placement])


def parameter_formula(model_config, config: AdapterConfig) -> str:
    """:func:`count_parameters` written out with this configuration's numbers."""
    d, m = model_config.d_model, config.bottleneck(model_config.d_model)
    blocks = t5_layout.block_counts(model_config)
    n = sum(blocks[b] for b in PLACEMENTS[config.placement])
    return f"(2·d·m + m + d) × adapters = (2·{d}·{m} + {m} + {d}) × {n}"


# adapter.pt: only the adapters' tensors, with the adapter configuration (see hwutils.t5_peft.weights)
WEIGHTS = MethodWeights("adapter", AdapterConfig, "adapter_config", add_adapters, is_own=lambda name: ".adapter." in name)
save, load = WEIGHTS.save, WEIGHTS.load
