"""Model factories and parameter counting, shared by every notebook."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.core.sources import check_source, hub_errors


@dataclass(frozen=True)
class ParameterCount:
    total: int
    trainable: int

    @property
    def trainable_share(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.trainable:,} trainable of {self.total:,} ({100 * self.trainable_share:.3f}%)"


def count_parameters(model: nn.Module) -> ParameterCount:
    """Total and trainable (``requires_grad``) parameters; tied tensors are counted once."""
    parameters = list(model.parameters())  # nn.Module.parameters() skips tied duplicates
    return ParameterCount(
        total=sum(p.numel() for p in parameters),
        trainable=sum(p.numel() for p in parameters if p.requires_grad),
    )


def lora_parameters(shapes: Mapping[str, tuple[int, int]], r: int, targets: Iterable[str], layers: int = 1) -> int:
    """Parameters LoRA adds: ``A`` (r x in) and ``B`` (out x r) on each targeted linear layer.

    ``shapes`` maps a layer's name to its ``(in_features, out_features)`` within one block, and
    ``layers`` is how many such blocks the model has: ``layers x sum over targets of r (in + out)``.
    Every notebook's analytic LoRA count goes through here.

    >>> lora_parameters({"query": (1024, 1024), "value": (1024, 1024)}, r=8, targets=["query", "value"], layers=24)
    786432
    """
    targets = list(targets)
    unknown = sorted(set(targets) - set(shapes))
    if unknown:
        raise ConfigError(f"no analytic LoRA count for target(s) {unknown}; known layers: {', '.join(shapes)}")
    return layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


def freeze(model: nn.Module) -> nn.Module:
    """Set ``requires_grad=False`` on every parameter of ``model``; returns it."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def from_pretrained(model_class: Any, source: str, **kwargs: Any) -> Any:
    """``model_class.from_pretrained(source)`` for a Hub id or a local folder, with clear errors.

    Works for models, tokenizers and processors alike; remote code is never trusted.
    """
    source = check_source(source, "model")
    if kwargs.get("trust_remote_code"):
        raise ValueError("hwutils never loads remote code (trust_remote_code)")
    with hub_errors(source, "model"):
        return model_class.from_pretrained(source, **kwargs)


def on_meta_device(model_class: Any, config: Any, **kwargs: Any) -> nn.Module:
    """The architecture of ``config`` built without allocating weights (counts parameters offline)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        if hasattr(model_class, "from_config"):  # the Auto* classes
            model = model_class.from_config(config, **kwargs)
        else:
            model = model_class(config, **kwargs)
    if hasattr(model, "tie_weights"):  # as from_pretrained does: e.g. T5's lm_head shares the embedding
        model.tie_weights()
    return model


def trace_shapes(model: nn.Module, *inputs: Any, max_depth: int = 3) -> list[dict[str, Any]]:
    """Shapes entering and leaving every submodule up to ``max_depth`` levels deep, in call order.

    Forward hooks record each call's tensor arguments and output; nothing in the model changes.
    """
    import torch

    def shapes(values: Any) -> list[tuple[int, ...]]:
        values = values if isinstance(values, (tuple, list)) else (values,)
        return [tuple(v.shape) for v in values if isinstance(v, torch.Tensor)]

    rows: list[dict[str, Any]] = []
    open_calls: dict[int, list[dict[str, Any]]] = {}
    handles = []
    for name, module in model.named_modules():
        if name and name.count(".") < max_depth:
            def before(module, args, name=name):  # a row per call, in the order calls start
                row = {"module": name, "type": type(module).__name__, "input": shapes(args), "output": []}
                rows.append(row)
                open_calls.setdefault(id(module), []).append(row)

            def after(module, args, output):
                open_calls[id(module)].pop()["output"] = shapes(output)

            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return rows


def scale_shapes(rows: list[dict[str, Any]], sizes: dict[int, int]) -> list[dict[str, Any]]:
    """The rows of :func:`trace_shapes` with traced sizes replaced (e.g. ``{7: 4096}`` for the
    sequence length). Choose traced sizes that no other dimension shares."""
    def scale(shape_list):
        return [tuple(sizes.get(d, d) for d in shape) for shape in shape_list]

    return [{**row, "input": scale(row["input"]), "output": scale(row["output"])} for row in rows]
