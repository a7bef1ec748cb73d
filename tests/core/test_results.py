"""The results contract: snake_case keys, a schema every results.json must follow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwutils.core.errors import ConfigError
from hwutils.core.results import method_record, snake_case_key, validate
from hwutils.core.run import start_run
from hwutils.core.training import RunStats


def test_snake_case_keys_are_required():
    assert snake_case_key("lora_r8") == "lora_r8"
    for bad in ["LoRA", "deep prompts (prefix)", "lora-r8", "8bit", ""]:
        with pytest.raises(ConfigError, match="snake_case"):
            snake_case_key(bad)
    with pytest.raises(ConfigError):
        method_record({"Matched Accuracy": 0.5})


def test_a_run_document_validates_and_a_broken_one_does_not(tmp_path):
    run = start_run("06_nano_transformer", "full", 0, tmp_path)
    run.record("char_lm", {"final_val_loss": np.float32(1.5)}, trainable_parameters=5, total_parameters=10,
               stats=RunStats(wall_time_s=1.0, device="cpu"))
    document = json.loads(run.results_path.read_text())
    assert validate(document) == []
    assert document["headline"] == {"method": "char_lm", "metric": "final_val_loss", "value": 1.5}

    broken = json.loads(run.results_path.read_text())
    broken["methods"]["Char LM"] = broken["methods"].pop("char_lm")
    broken["methods"]["Char LM"]["metrics"]["loss"] = "low"
    del broken["checks"]
    problems = validate(broken)
    assert any("Char LM" in p for p in problems) and any("'low'" in p for p in problems)
    assert any("checks" in p for p in problems)
    broken = json.loads(run.results_path.read_text())
    broken["headline"]["value"] = 0.1
    assert any("headline" in p for p in validate(broken))
