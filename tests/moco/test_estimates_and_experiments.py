"""Costs computed from the architecture on the meta device, and the helpers that name and summarise runs."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwutils.core.training import TrainResult
from hwutils.moco import estimates, experiments
from hwutils.moco.model import Encoder, MoCoConfig


def test_the_full_footprint_counts_resnet18_and_both_passes():
    config = MoCoConfig()  # the full profile's model: ResNet-18, 128-d keys, K = 4096
    footprint = estimates.measure_footprint(config, image_size=32)
    assert footprint.backbone_parameters == 11_168_832
    assert footprint.head_parameters == 512 * 512 + 512 + 512 * 128 + 128
    assert footprint.queue_floats == 4096 * 128
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        Encoder(config).eval()(torch.empty(1, 3, 32, 32))
    forward = counter.get_total_flops()
    # query: forward + backward (about twice the forward); key: forward only
    assert footprint.flops_per_image == pytest.approx(4 * forward, rel=0.02)
    assert footprint.saved_activation_bytes_per_image > 0


def test_memory_parts_add_up_and_activations_grow_with_the_batch():
    footprint = estimates.measure_footprint(MoCoConfig(widths=(8, 16), depths=(1, 1), bn_splits=2), image_size=16)
    small, large = estimates.memory_estimate_gb(footprint, 64), estimates.memory_estimate_gb(footprint, 128)
    assert small["total"] == pytest.approx(sum(v for k, v in small.items() if k != "total"))
    assert large["saved activations"] == pytest.approx(2 * small["saved activations"])


def test_a_step_takes_the_slower_of_the_gpu_and_the_loader():
    footprint = estimates.Footprint(1, 1, 0, 0, flops_per_image=1e9, saved_activation_bytes_per_image=0)
    assert estimates.seconds_per_step(footprint, 100, sustained_flops=1e12, views_per_second=1e6) == pytest.approx(0.1)
    assert estimates.seconds_per_step(footprint, 100, sustained_flops=1e15, views_per_second=1000) == pytest.approx(0.2)
    assert estimates.views_per_second(lambda image: image, repeats=20) > 0


def test_method_keys_are_snake_case_numbers():
    assert experiments.number_key("momentum", 0.99) == "momentum_0_99"
    assert experiments.number_key("momentum", 0.0) == "momentum_0"
    assert experiments.number_key("queue", 4096) == "queue_4096"


def test_loss_curve_averages_windows_and_mean_of_skips_missing_values():
    training = TrainResult(losses=[{"step": s, "loss": float(s)} for s in range(1, 11)])
    assert experiments.loss_curve(training, points=2) == [{"step": 5, "loss": 3.0}, {"step": 10, "loss": 8.0}]
    assert experiments.mean_of([{"a": 1.0}, {"b": 5.0}, {"a": 3.0}], "a") == 2.0
    assert experiments.mean_of([{"b": 1.0}], "a") is None


def test_expected_share_of_a_uniform_queue():
    assert experiments.expected_share_if_uniform(22_000, 10) == pytest.approx(10 / 21_999)
