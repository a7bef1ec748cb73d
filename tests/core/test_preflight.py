"""The preflight: memory by part, on the meta device, and the decision to stop before a download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from hwutils.core import preflight
from hwutils.core.errors import ConfigError
from hwutils.core.preflight import GIB, GPUS, Workload, estimate, measure


def mlp(freeze_first: bool = False) -> nn.Module:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    if freeze_first:
        model[0].requires_grad_(False)
    return model


def mlp_workload(**kwargs) -> Workload:
    return Workload("mlp", lambda: mlp(kwargs.pop("freeze_first", False)), lambda: (torch.empty(32, 64, device="meta"),),
                    loss=lambda model, batch: model(*batch).sum(), **kwargs)


def test_parameters_gradients_and_adamw_state_are_counted_from_the_trainable_ones():
    measured = measure(mlp_workload())
    assert measured.parameters == 64 * 256 + 256 + 256 * 10 + 10 and measured.trainable == measured.parameters
    e = estimate(mlp_workload(), GPUS["a100"], measured)
    assert e.weights == measured.parameters * 4 and e.gradients == measured.parameters * 4
    assert e.optimizer == measured.parameters * 8
    assert estimate(mlp_workload(optimizer="adamw_8bit"), GPUS["a100"]).optimizer == measured.parameters * 2


def test_saved_activations_are_counted_and_freezing_the_first_layer_saves_less():
    full = measure(mlp_workload())
    # Linear saves its input x (32x64) for the weight's gradient, ReLU its output (32x256), which the
    # second Linear saves too (counted once)
    assert full.saved_float32 == (32 * 64 + 32 * 256) * 4
    frozen = measure(Workload("mlp", lambda: mlp(True), lambda: (torch.empty(32, 64, device="meta"),),
                              loss=lambda model, batch: model(*batch).sum()))
    assert frozen.saved_float32 == 32 * 256 * 4, "a frozen first layer needs no input saved"
    assert frozen.trainable == 256 * 10 + 10


def test_half_precision_halves_float32_activations_and_follows_the_gpu():
    measured = measure(mlp_workload())
    t4, a100 = estimate(mlp_workload(), GPUS["t4"], measured), estimate(mlp_workload(), GPUS["a100"], measured)
    assert (t4.precision, a100.precision) == ("float16", "bfloat16")
    fp32 = estimate(mlp_workload(autocast=False), GPUS["a100"], measured)
    assert fp32.precision == "float32" and fp32.activations == 2 * a100.activations


@pytest.mark.slow
def test_gradient_checkpointing_keeps_less_for_a_transformer():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=4, n_embd=64, n_head=4, vocab_size=100, n_positions=128)

    def build():
        with torch.device("meta"):
            return GPT2LMHeadModel(config)

    def batch():
        ids = torch.zeros(4, 128, dtype=torch.long, device="meta")
        return {"input_ids": ids, "labels": ids}

    plain = estimate(Workload("gpt2", build, batch), GPUS["t4"])
    checkpointed = estimate(Workload("gpt2", build, batch, gradient_checkpointing=True, layers=4), GPUS["t4"])
    assert checkpointed.activations < 0.6 * plain.activations


def big_workload(**kwargs) -> Workload:
    """A frozen 4.2-billion-parameter stand-in: 15.6 GiB of fp32 weights."""
    def build():
        with torch.device("meta"):
            model = nn.Sequential(nn.Linear(60_000, 70_000, bias=False), nn.Linear(70_000, 8))
        model[0].requires_grad_(False)
        return model

    return Workload("big", build, lambda: (torch.empty(2, 60_000, device="meta"),),
                    loss=lambda model, batch: model(*batch).sum(), remedy="precision='bfloat16'", **kwargs)


def test_fits_an_a100_but_not_a_t4():
    measured = measure(big_workload())
    assert estimate(big_workload(), GPUS["a100"], measured).fits
    assert not estimate(big_workload(), GPUS["t4"], measured).fits
    rows = preflight.fit_table(preflight.estimate_all([big_workload()]))
    assert "DOES NOT FIT" in rows[0]["T4 16 GB"] and "fits" in rows[0]["A100 40 GB"]


def test_the_full_profile_stops_with_one_line_and_the_smoke_profile_never(monkeypatch):
    monkeypatch.setattr(preflight, "device_as_gpu", lambda device: GPUS["t4"])
    with pytest.raises(ConfigError, match=r"big needs about .* GiB but T4 16 GB has 15.0 GiB; set precision='bfloat16'"
                                          r", or OVERRIDES=\{'preflight': 'warn'\}"):
        preflight.check_device([big_workload()], torch.device("cpu"), "full")
    assert not preflight.check_device([big_workload()], torch.device("cpu"), "smoke")[0].fits
    assert preflight.check_device([big_workload()], torch.device("cpu"), "full", mode="warn")
    assert preflight.check_device([big_workload()], torch.device("cpu"), "full", mode="off") == []
    with pytest.raises(ConfigError, match="valid modes"):
        preflight.check_device([big_workload()], torch.device("cpu"), "full", mode="maybe")


def test_time_is_flops_over_the_gpus_throughput():
    e = estimate(mlp_workload(steps=1000), GPUS["a100"])
    flops = measure(mlp_workload()).step_flops
    assert e.seconds == pytest.approx(flops * 1000 / (312e12 * preflight.UTILISATION))


@pytest.mark.slow
def test_the_estimate_is_within_20_percent_of_measured_t5_small_peaks():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "preflight_accuracy.py"
    spec = importlib.util.spec_from_file_location("preflight_accuracy", path)
    accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy)
    for row in accuracy.compare(size=4, length=128):
        assert abs(row["error"]) <= 0.20, row
    assert GIB == 2**30
