"""The MLP, its parameter count, the weighted loss, and training through the core loop (with resume)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwutils.core.models import count_parameters
from hwutils.core.precision import Precision
from hwutils.imbalanced.model import FraudMLP, forward_flops_per_row, mlp_parameters
from hwutils.imbalanced.resampling import Rebalanced
from hwutils.imbalanced.scoring import ranking_metrics
from hwutils.imbalanced.training import MLPRecipe, fit_classifier, predict_scores, random_rows, weighted_bce

FLOAT32 = Precision("float32", "cpu", "test")


@pytest.mark.parametrize("n_features, hidden", [(30, [64, 32]), (30, [128, 64]), (5, []), (7, [3, 3, 3])])
def test_analytic_parameter_count_equals_the_counted_one(n_features, hidden):
    assert mlp_parameters(n_features, hidden) == count_parameters(FraudMLP(n_features, hidden)).total


def test_forward_flops_count_two_per_multiply_add():
    assert forward_flops_per_row(30, [64, 32]) == 2 * (30 * 64 + 64 * 32 + 32)


def test_the_mlp_outputs_one_logit_per_row():
    assert FraudMLP(30, [8])(torch.zeros(5, 30)).shape == (5,)


def test_random_rows_repeat_from_the_same_generator_state():
    x, y = torch.arange(100.0).reshape(50, 2), torch.arange(50.0)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    first = random_rows(x, y, 8, generator)
    generator.set_state(state)
    again = random_rows(x, y, 8, generator)
    assert torch.equal(first[0], again[0]) and torch.equal(first[0][:, 0] / 2, first[1])


def test_pos_weight_multiplies_the_fraud_terms_only():
    model = FraudMLP(3, [4])
    x = torch.randn(6, 3)
    frauds, legit = (x, torch.ones(6)), (x, torch.zeros(6))
    assert weighted_bce(7.0)(model, frauds).item() == pytest.approx(7 * weighted_bce(1.0)(model, frauds).item())
    assert weighted_bce(7.0)(model, legit).item() == pytest.approx(weighted_bce(1.0)(model, legit).item())


def separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.05).astype(np.int64)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[y == 1, :2] += 2.5
    return x, y


RECIPE = MLPRecipe((16,), 0.0, 1e-2, steps=120, batch_size=64, eval_every=40, eval_batch_size=512, checkpoint_every=50)


@pytest.mark.parametrize("precision", [FLOAT32, Precision("bfloat16", "cpu", "the GPU's bf16 branch, on a CPU"),
                                       Precision("float16", "cpu", "the T4's float16 branch (loss scaling), on a CPU")])
def test_fit_classifier_learns_and_logs_the_validation_curve(tmp_path, precision):
    (x, y), (x_val, y_val) = separable(3000, 0), separable(1000, 1)
    fitted = fit_classifier("toy", Rebalanced(x, y, 5.0, 0), x_val, y_val, RECIPE, checkpoint_dir=tmp_path, seed=0,
                            device=torch.device("cpu"), precision=precision)
    assert [r["step"] for r in fitted.result.evals] == [0, 40, 80, 120]
    assert fitted.result.evals[-1]["val_average_precision"] > 0.8 > fitted.result.evals[0]["val_average_precision"]
    assert fitted.result.stats.steps == 120 and fitted.parameters.total == mlp_parameters(4, [16])
    assert ranking_metrics(y_val, predict_scores(fitted.model, x_val, 256, precision), 0.8)["roc_auc"] > 0.9


def test_training_computes_in_the_runs_precision(tmp_path):
    (x, y), (x_val, y_val) = separable(600, 0), separable(200, 1)
    seen = set()

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Linear) and module.training:
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        fit_classifier("toy", Rebalanced(x, y, 1.0, 0), x_val, y_val, MLPRecipe(**{**RECIPE.__dict__, "steps": 5}),
                       checkpoint_dir=tmp_path, seed=0, device=torch.device("cpu"),
                       precision=Precision("bfloat16", "cpu", "test"))
    finally:
        handle.remove()
    assert seen == {torch.bfloat16}


@pytest.mark.slow
def test_a_rerun_resumes_from_the_checkpoint_with_the_same_model(tmp_path):
    (x, y), (x_val, y_val) = separable(3000, 0), separable(1000, 1)
    data = Rebalanced(x, y, 1.0, 0)
    arguments = dict(checkpoint_dir=tmp_path, seed=0, device=torch.device("cpu"), precision=FLOAT32)
    first = fit_classifier("toy", data, x_val, y_val, RECIPE, **arguments)
    again = fit_classifier("toy", data, x_val, y_val, RECIPE, **arguments)
    assert first.result.resumed_from_step == 0 and again.result.resumed_from_step == RECIPE.steps
    assert np.array_equal(predict_scores(first.model, x_val, 256, FLOAT32), predict_scores(again.model, x_val, 256, FLOAT32))
    other = fit_classifier("toy", Rebalanced(x, y, 2.0, 0), x_val, y_val, RECIPE, **arguments)  # another loss weight
    assert other.result.resumed_from_step == 0


@pytest.mark.slow
def test_an_interrupted_training_continues_exactly(tmp_path):
    """Stopped after its checkpoint at step 50 and rerun, training ends where an uninterrupted run ends."""
    (x, y), (x_val, y_val) = separable(3000, 0), separable(1000, 1)
    data = Rebalanced(x, y, 1.0, 0)
    arguments = dict(seed=0, device=torch.device("cpu"), precision=FLOAT32)
    whole = fit_classifier("toy", data, x_val, y_val, RECIPE, checkpoint_dir=tmp_path / "whole", **arguments)
    short = MLPRecipe(**{**RECIPE.__dict__, "steps": 50})
    fit_classifier("toy", data, x_val, y_val, short, checkpoint_dir=tmp_path / "cut", **arguments)
    state = torch.load(tmp_path / "cut" / "toy.pt", weights_only=True)
    state["fingerprint"]["steps"] = RECIPE.steps  # the checkpoint of a run that was meant to go on
    torch.save(state, tmp_path / "cut" / "toy.pt")
    resumed = fit_classifier("toy", data, x_val, y_val, RECIPE, checkpoint_dir=tmp_path / "cut", **arguments)
    assert resumed.result.resumed_from_step == 50
    assert np.array_equal(predict_scores(resumed.model, x_val, 256, FLOAT32), predict_scores(whole.model, x_val, 256, FLOAT32))


def test_predict_scores_leaves_the_training_mode_as_it_was():
    model = FraudMLP(4, [8], dropout=0.5).train()
    scores = predict_scores(model, np.zeros((10, 4), np.float32), 4, FLOAT32)
    assert model.training and scores.dtype == np.float64 and scores.shape == (10,)
