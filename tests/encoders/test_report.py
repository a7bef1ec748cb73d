"""The split overview and the per-method figures of notebook 02."""

from __future__ import annotations

import datasets
import matplotlib
import numpy as np
import pytest

from hwutils.core.models import ParameterCount
from hwutils.core.training import TrainResult
from hwutils.encoders import report
from hwutils.encoders.methods import MethodResult

matplotlib.use("Agg")
LABELS = ["entailment", "neutral", "contradiction"]


@pytest.fixture
def splits():
    train = datasets.Dataset.from_dict({"premise": [f"p{i}" for i in range(6)], "hypothesis": [f"h{i}" for i in range(6)],
                                        "label": [0, 0, 0, 1, 2, 2], "genre": ["fiction"] * 3 + ["travel"] * 3})
    other = datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [1, 2], "genre": ["oup"] * 2})
    return {"train": train, "other": other}


def test_split_overview_gives_label_shares_and_genres(splits):
    rows = report.split_overview(splits, LABELS)
    assert rows[0] == {"split": "train", "pairs": 6, "entailment share": 0.5, "neutral share": pytest.approx(1 / 6),
                       "contradiction share": pytest.approx(1 / 3), "genres": "fiction, travel"}
    assert rows[1]["entailment share"] == 0.0 and rows[1]["genres"] == "oup"


def test_one_pair_per_label_takes_the_first_of_each(splits):
    rows = report.one_pair_per_label(splits["train"], LABELS)
    assert [(r["premise"], r["label"]) for r in rows] == [("p0", "entailment"), ("p3", "neutral"), ("p4", "contradiction")]


def test_figures_have_one_panel_per_split_kind_and_per_method(splits):
    assert len(report.plot_splits(splits, LABELS).axes) == 2
    losses = [{"step": s, "loss": 1.0 / s, "lr": 0.1} for s in range(1, 11)]
    result = MethodResult("lora", 10, TrainResult(losses=losses, evals=[{"step": 10, "held_out_accuracy": 0.5}]),
                          ParameterCount(10, 2), 0.1, {"head": 0.1})
    curves = report.plot_learning_curves({"lora": result, "full_ft": result}, {"lora": "LoRA", "full_ft": "full"}, chance=1 / 3)
    assert [ax.get_title() for ax in curves.axes] == ["LoRA", "full"]
    confusions = report.plot_confusions({"lora": np.eye(3)}, LABELS, {"lora": "LoRA"})
    assert confusions.axes[0].get_title() == "LoRA"
