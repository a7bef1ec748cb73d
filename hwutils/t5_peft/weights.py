"""Files holding only a PEFT method's own weights, with what is needed to refuse a wrong model.

A file (``torch.save`` of plain containers, read back with ``weights_only=True``) holds:

* ``method``: which from-scratch method wrote it (``"lora"``, ``"adapter"``, ``"soft_prompt"``);
* ``hyper_parameters``: the method's settings, so :func:`read_method_weights` can rebuild the method;
* ``architecture``: the base model's shape-defining configuration values;
* ``state_dict``: the method's tensors only (a few hundred kilobytes for t5-small, not 240 MB).

Loading a file written by another method, or for a model of another shape, fails with one line
that says which (``DataError``), instead of a ``load_state_dict`` traceback about missing keys.

Each from-scratch method describes itself once with a :class:`MethodWeights` (its name, its
configuration class, how to add it to a model, which tensors are its own); ``MethodWeights.save``
and ``MethodWeights.load`` are the one save/load code of all three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwutils.core.errors import ConfigError, DataError

FORMAT = "hwutils.t5_peft/1"
# Configuration values that decide the shapes of a model's weights (T5, BERT-like and GPT-like names).
ARCHITECTURE_KEYS = ("model_type", "vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers",
                     "num_heads", "feed_forward_proj", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "n_embd", "n_layer", "n_head")
_MODULES = {"lora": "lora", "adapter": "adapters", "soft_prompt": "prompts"}  # method -> hwutils.t5_peft module


def architecture(config: Any) -> dict[str, Any]:
    """The shape-defining values of a model configuration (a ``PretrainedConfig``)."""
    return {key: getattr(config, key) for key in ARCHITECTURE_KEYS if hasattr(config, key)}


def save_method_weights(path: str | Path, *, method: str, hyper_parameters: Mapping[str, Any], model_config: Any,
                        state_dict: Mapping[str, torch.Tensor]) -> Path:
    """Write ``state_dict`` (the method's tensors only) with the metadata described above."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "format": FORMAT,
        "method": method,
        "hyper_parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in hyper_parameters.items()},
        "architecture": architecture(model_config),
        "state_dict": {name: tensor.detach().cpu().clone() for name, tensor in state_dict.items()},
    }, path)
    return path


def read_method_weights(path: str | Path, *, method: str, model_config: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(hyper_parameters, state_dict)`` from a file of :func:`save_method_weights`, after checking
    that it was written by ``method`` for a model shaped like ``model_config``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # not a torch file, or one holding arbitrary objects
        raise DataError(f"{path} is not a weights file of hwutils.t5_peft ({type(error).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise DataError(f"{path} is not a weights file of hwutils.t5_peft (no {FORMAT!r} header)")
    if saved["method"] != method:
        raise DataError(f"{path} holds {saved['method']!r} weights, not {method!r} weights: "
                        f"load it with hwutils.t5_peft.{_MODULES.get(saved['method'], saved['method'])}.load")
    expected, found = saved["architecture"], architecture(model_config)
    differences = [f"{key}={expected.get(key)!r} (this model: {found.get(key)!r})"
                   for key in sorted(set(expected) | set(found)) if expected.get(key) != found.get(key)]
    if differences:
        raise DataError(f"{path} was saved for another model configuration: {', '.join(differences)}")
    return dict(saved["hyper_parameters"]), dict(saved["state_dict"])


def load_exactly(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Copy ``state_dict`` into ``module``'s parameters of the same names; every name must exist with
    the same shape, and every method parameter of ``module`` must be covered."""
    own = dict(module.named_parameters())
    problems = [name for name, tensor in state_dict.items() if name not in own or own[name].shape != tensor.shape]
    missing = [name for name, p in own.items() if p.requires_grad and name not in state_dict]
    if problems or missing:
        raise DataError(f"{path} does not fit this model: {len(problems)} saved tensors have no match "
                        f"(e.g. {problems[:2]}), {len(missing)} method parameters are not in the file (e.g. {missing[:2]})")
    with torch.no_grad():
        for name, tensor in state_dict.items():
            own[name].copy_(tensor)


def _nothing_to_check(model: nn.Module) -> None:
    return None


@dataclass(frozen=True)
class MethodWeights:
    """How one from-scratch method's weights are saved and loaded.

    ``config_attribute`` names where the model keeps the method's configuration (set by ``apply``,
    e.g. ``model.lora_config``); ``apply(model, config)`` adds the method to a fresh model (for
    loading); ``is_own(name)`` tells the method's tensors from the frozen model's; ``check_savable``
    refuses a model whose weights would be saved wrongly (e.g. a merged LoRA).
    """

    method: str
    config_class: type
    config_attribute: str
    apply: Callable[[nn.Module, Any], nn.Module]
    is_own: Callable[[str], bool]
    check_savable: Callable[[nn.Module], None] = _nothing_to_check

    def state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Only the method's own tensors of ``model``."""
        return {name: p for name, p in model.named_parameters() if self.is_own(name)}

    def save(self, model: nn.Module, path: str | Path) -> Path:
        """Write the method's tensors of ``model``, its configuration and the model's architecture to ``path``."""
        config = getattr(model, self.config_attribute, None)
        if config is None:
            raise ConfigError(f"this model has no {self.method} weights (add the method first)")
        self.check_savable(model)
        return save_method_weights(path, method=self.method, hyper_parameters=asdict(config),
                                   model_config=model.config, state_dict=self.state_dict(model))

    def load(self, model: nn.Module, path: str | Path) -> nn.Module:
        """Add the method (with the saved configuration) to a fresh ``model`` and load the saved
        tensors into it; returns the model with the method (a wrapper for the soft prompt)."""
        hyper_parameters, state_dict = read_method_weights(path, method=self.method, model_config=model.config)
        config = self.config_class(**hyper_parameters)
        present = getattr(model, self.config_attribute, None)
        if present is None:
            model = self.apply(model, config)
        elif present != config:
            raise ConfigError(f"this model already has {self.method} {present}, the file holds {config}")
        load_exactly(model, state_dict, path)
        return model
