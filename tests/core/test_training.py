from __future__ import annotations

import os
import random

import numpy as np

import pytest
import torch
from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.core.training import Checkpointer, Meter, RunStats, count_batch, move_to, pick_device, seed_everything, train


def test_seed_everything_makes_python_numpy_and_torch_repeat():
    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in {"cpu", "cuda"}
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            pick_device("cuda")


def test_meter_measures_time_throughput_and_memory(monkeypatch):
    import hwutils.core.training as training

    ticks = iter([100.0, 102.0])  # a clock read on entry and on exit: 2 seconds, whatever the machine's load
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(ticks))
    with Meter("cpu") as meter:
        meter.count(samples=10, tokens=1000, steps=1)
    stats = meter.stats
    assert stats.wall_time_s == 2.0 and stats.samples == 10 and stats.tokens == 1000
    assert stats.samples_per_s == 5.0 and stats.tokens_per_s == 500.0
    assert stats.peak_memory_mb > 10 and stats.memory_kind == "process_peak_rss"
    assert set(stats.as_dict()) >= {"wall_time_s", "samples_per_s", "tokens_per_s", "peak_memory_mb"}


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="per-run CPU peaks need Linux /proc")
def test_meter_reports_each_runs_own_peak_on_cpu():
    with Meter("cpu") as big_run:
        block = torch.ones(200 * 2**20 // 4)  # 200 MiB of float32, touched, so resident
        del block
    with Meter("cpu") as small_run:
        sum(range(1000))
    assert big_run.stats.peak_memory_mb - small_run.stats.peak_memory_mb > 150


def test_count_batch_and_move_to():
    assert count_batch((torch.zeros(4, 8, dtype=torch.long), torch.zeros(4, 8))) == (4, 32)
    batch = {"input_ids": torch.ones(2, 5, dtype=torch.long), "attention_mask": torch.tensor([[1, 1, 1, 0, 0], [1] * 5])}
    assert count_batch(batch) == (2, 8)
    assert count_batch({"pixel_values": torch.zeros(3, 3, 8, 8)}) == (3, 0)
    moved = move_to({"x": (torch.zeros(1),)}, torch.device("cpu"))
    assert isinstance(moved["x"], tuple)


def regression_problem(seed: int = 0):
    """y = x @ w + noise: a linear model must fit it."""
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(5, 1, generator=generator)

    def next_batch():
        x = torch.randn(16, 5, generator=generator)
        return x, x @ w + 0.01 * torch.randn(16, 1, generator=generator)

    return generator, next_batch


def mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def make_run(tmp_path=None, every=5, steps=20, after_step=None):
    torch.manual_seed(0)
    model = nn.Linear(5, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator, next_batch = regression_problem()
    checkpoint = Checkpointer(tmp_path / "state.pt", every=every, fingerprint={"width": 5}) if tmp_path else None
    fixed = next_batch()

    def evaluate():
        return {"val_loss": mse(model, fixed).item()}

    result = train(model, optimizer, next_batch, mse, steps=steps, scheduler=scheduler, evaluate=evaluate,
                   eval_every=5, checkpoint=checkpoint, generator=generator, count=lambda b: (len(b[0]), 0),
                   after_step=after_step)
    return model, result


def test_train_reduces_the_loss_and_records_everything():
    model, result = make_run()
    assert [e["step"] for e in result.evals] == [0, 5, 10, 15, 20]
    assert result.evals[-1]["val_loss"] < 0.2 * result.evals[0]["val_loss"]
    assert len(result.losses) == 20 and result.losses[-1]["lr"] < result.losses[0]["lr"]
    assert result.stats.steps == 20 and result.stats.samples == 320
    assert result.resumed_from_step == 0


def test_interrupted_training_resumes_to_the_same_result(tmp_path):
    reference_model, reference = make_run()

    def interrupt(step):
        if step == 12:
            raise KeyboardInterrupt  # as if the kernel were stopped mid-run

    with pytest.raises(KeyboardInterrupt):
        make_run(tmp_path, after_step=interrupt)
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == 10

    resumed_model, resumed = make_run(tmp_path)
    assert resumed.resumed_from_step == 10
    assert [r["loss"] for r in resumed.losses] == [r["loss"] for r in reference.losses]
    assert resumed.evals == reference.evals
    assert torch.equal(resumed_model.weight, reference_model.weight)
    assert resumed.stats.steps == 20

    finished_model, finished = make_run(tmp_path)  # a finished run is reused, not retrained
    assert finished.resumed_from_step == 20 and finished.evals == reference.evals


def test_checkpoint_for_other_settings_is_not_resumed(tmp_path, capsys):
    make_run(tmp_path, steps=5)
    assert Checkpointer(tmp_path / "state.pt", every=5, fingerprint={"width": 5}).load()["step"] == 5
    assert Checkpointer(tmp_path / "state.pt", every=5, fingerprint={"width": 6}).load() is None
    assert "written for other settings or code (width differ); starting over" in capsys.readouterr().out


def test_runstats_throughput_is_zero_without_time():
    assert RunStats().samples_per_s == 0 and RunStats().tokens_per_s == 0


def test_a_checkpoint_from_other_library_versions_is_not_resumed(tmp_path, monkeypatch, capsys):
    from hwutils.core import training

    Checkpointer(tmp_path / "state.pt", every=1, fingerprint={"width": 5}).save({"step": 3})
    assert Checkpointer(tmp_path / "state.pt", every=1, fingerprint={"width": 5}).load()["step"] == 3
    monkeypatch.setattr(training, "code_versions", lambda: {"hwutils": "9.9.9"})
    assert Checkpointer(tmp_path / "state.pt", every=1, fingerprint={"width": 5}).load() is None
    assert "code_versions differ" in capsys.readouterr().out


def test_float16_training_scales_the_loss_and_still_learns(tmp_path):
    """The full profile's fp16 branch (a T4), run on the CPU: autocast in float16 with a loss scale."""
    from hwutils.core.precision import choose_precision

    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    data = torch.randn(64, 8)
    target = data @ torch.arange(8.0)[:, None]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)  # not Adam: it would hide a wrong gradient scale
    precision = choose_precision("cpu", "float16")
    seen_dtypes = []

    def loss_fn(m, batch):
        out = m(batch[0])
        seen_dtypes.append(out.dtype)
        return torch.nn.functional.mse_loss(out.float(), batch[1])

    result = train(model, optimizer, lambda: (data, target), loss_fn, steps=150, precision=precision,
                   max_grad_norm=10.0, checkpoint=Checkpointer(tmp_path / "fp16.pt", every=30))
    assert seen_dtypes[0] == torch.float16, "the forward pass runs under float16 autocast"
    assert result.losses[-1]["loss"] < 0.2 * result.losses[0]["loss"]
    assert torch.load(tmp_path / "fp16.pt", weights_only=True)["grad_scaler"]["scale"] > 0


def test_a_float16_step_with_an_infinite_gradient_is_skipped_and_the_scale_lowered():
    from hwutils.core.precision import choose_precision

    model = torch.nn.Linear(2, 1)
    before = [p.detach().clone() for p in model.parameters()]

    def loss_fn(m, batch):  # the first step's loss overflows
        return m(batch).sum() * float("inf")

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train(model, optimizer, lambda: (torch.ones(1, 2),), lambda m, batch: loss_fn(m, batch[0]), steps=1,
          precision=choose_precision("cpu", "float16"))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "the overflowing step was skipped"
