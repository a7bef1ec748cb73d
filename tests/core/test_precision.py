"""Precision by capability: bfloat16 only where it is native, float16 with loss scaling below, float32 on a CPU."""

from __future__ import annotations

import pytest
import torch

from hwutils.core import precision as precision_module
from hwutils.core.errors import ConfigError
from hwutils.core.precision import choose_precision


@pytest.fixture
def gpu(monkeypatch):
    """Pretend the CUDA device has a given compute capability (no GPU here)."""

    def with_capability(major, minor):
        monkeypatch.setattr(precision_module, "cuda_capability", lambda device: (major, minor))
        # what the old rule asked: emulated bf16 counts as "supported" on a T4
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
        return torch.device("cuda")

    return with_capability


def test_a_t4_gets_float16_with_loss_scaling_even_though_bf16_is_emulated(gpu):
    chosen = choose_precision(gpu(7, 5))
    assert chosen.name == "float16" and chosen.needs_loss_scaling
    assert chosen.trainer_flags() == {"bf16": False, "fp16": True}
    assert "7.5" in chosen.reason


def test_an_a100_gets_native_bfloat16_without_loss_scaling(gpu):
    chosen = choose_precision(gpu(8, 0))
    assert chosen.name == "bfloat16" and not chosen.needs_loss_scaling
    assert chosen.trainer_flags() == {"bf16": True, "fp16": False}


def test_a_cpu_computes_in_float32_unless_bfloat16_is_asked_for():
    assert choose_precision("cpu").name == "float32"
    assert not choose_precision("cpu").autocast_enabled
    asked = choose_precision("cpu", "bfloat16")
    assert asked.name == "bfloat16" and asked.autocast_enabled
    with asked.autocast():
        out = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16


def test_bfloat16_on_a_t4_fails_with_one_line(gpu):
    with pytest.raises(ConfigError, match="compute capability 8.0"):
        choose_precision(gpu(7, 5), "bfloat16")
    with pytest.raises(ConfigError, match="valid precisions"):
        choose_precision("cpu", "fp8")


@pytest.mark.slow  # imports the Trainer: 5-18 s
def test_a_float32_trainer_built_after_a_bf16_one_does_not_autocast(tmp_path, monkeypatch):
    """``TrainingArguments(bf16=True)`` leaves ``ACCELERATE_MIXED_PRECISION=bf16`` in the process's
    environment, and later ``TrainingArguments`` read it as their default: ``trainer_flags()`` sets
    it to the run's own precision, so the second ``Trainer`` computes in float32."""
    from transformers import Trainer, TrainingArguments

    monkeypatch.setenv(precision_module.ACCELERATE_PRECISION_ENV, "no")  # restored after the test
    common = {"use_cpu": True, "report_to": [], "save_strategy": "no"}
    TrainingArguments(output_dir=str(tmp_path / "bf16"), **common, **choose_precision("cpu", "bfloat16").trainer_flags())
    args = TrainingArguments(output_dir=str(tmp_path / "fp32"), **common, **choose_precision("cpu").trainer_flags())
    trainer = Trainer(model=torch.nn.Linear(2, 2), args=args)
    assert trainer.accelerator.mixed_precision == "no"
