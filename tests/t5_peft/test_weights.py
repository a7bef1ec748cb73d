"""hwutils.t5_peft.weights: one save/load code for every from-scratch method's weight file."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from hwutils.core.errors import ConfigError, DataError
from hwutils.t5_peft.fixtures import random_t5
from hwutils.t5_peft.weights import MethodWeights


@dataclass(frozen=True)
class ScaleConfig:
    start: float = 1.0


def add_scale(model: nn.Module, config: ScaleConfig) -> nn.Module:
    """A made-up method: one trainable scalar; the frozen model is untouched."""
    model.requires_grad_(False)
    model.output_scale = nn.Parameter(torch.tensor(config.start))
    model.scale_config = config
    return model


SCALE = MethodWeights("scale", ScaleConfig, "scale_config", add_scale, is_own=lambda name: name == "output_scale")


def test_any_method_described_once_saves_only_its_tensors_and_reloads(tmp_path):
    model = add_scale(random_t5(), ScaleConfig(2.0))
    with torch.no_grad():
        model.output_scale.mul_(3)
    path = SCALE.save(model, tmp_path / "scale.pt")
    saved = torch.load(path, weights_only=True)
    assert saved["method"] == "scale" and list(saved["state_dict"]) == ["output_scale"]
    assert saved["hyper_parameters"] == {"start": 2.0}
    fresh = SCALE.load(random_t5(), path)
    assert fresh.scale_config == ScaleConfig(2.0) and fresh.output_scale.item() == 6.0


def test_a_model_without_the_method_cannot_be_saved(tmp_path):
    with pytest.raises(ConfigError, match="this model has no scale weights"):
        SCALE.save(random_t5(), tmp_path / "scale.pt")


def test_loading_into_a_model_with_another_configuration_of_the_method_fails(tmp_path):
    path = SCALE.save(add_scale(random_t5(), ScaleConfig(2.0)), tmp_path / "scale.pt")
    with pytest.raises(ConfigError, match="already has scale"):
        SCALE.load(add_scale(random_t5(), ScaleConfig(5.0)), path)
    same = SCALE.load(add_scale(random_t5(), ScaleConfig(2.0)), path)  # the same configuration: loaded in place
    assert same.output_scale.item() == 2.0


def test_a_file_missing_a_method_tensor_is_refused(tmp_path):
    path = SCALE.save(add_scale(random_t5(), ScaleConfig()), tmp_path / "scale.pt")
    other = MethodWeights("scale", ScaleConfig, "scale_config", add_scale, is_own=lambda name: False)
    empty = other.save(add_scale(random_t5(), ScaleConfig()), tmp_path / "empty.pt")
    assert path.exists()
    with pytest.raises(DataError, match="1 method parameters are not in the file"):
        SCALE.load(random_t5(), empty)
