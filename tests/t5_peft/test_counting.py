"""hwutils.t5_peft.counting: the table of analytic vs counted trainable parameters per family."""

from __future__ import annotations

from transformers import AutoConfig, AutoTokenizer, T5Config

from hwutils.core.fixtures import fixture_path
from hwutils.core.profiles import load_settings
from hwutils.t5_peft import counting, methods
from hwutils.t5_peft.fixtures import T5_SMALL_CONFIG


def parameter_rows(overrides=None):
    settings = load_settings("01_t5_imdb", "smoke", overrides)
    table = methods.method_table(settings, AutoTokenizer.from_pretrained(fixture_path("t5_tiny")))
    configs = {"this model": AutoConfig.from_pretrained(settings.model), "t5-small": T5Config(**T5_SMALL_CONFIG)}
    return counting.parameter_table(table, configs)


def test_every_analytic_count_equals_the_counted_one_for_both_models():
    rows = parameter_rows({"lora_targets": ["q", "k", "v", "o", "wi", "wo"], "adapter_reduction_factor": 4})
    assert [row["family"] for row in rows] == ["full_ft", "prompt_tuning", "adapter", "lora"]
    assert counting.agreement(rows) == (8, 8)
    by_family = {row["family"]: row for row in rows}
    assert by_family["full_ft"]["counted (t5-small)"] == 60_506_624
    assert by_family["lora"]["counted (t5-small)"] == 8 * ((512 + 512) * 4 * 18 + (512 + 2048) * 2 * 12)  # 18 attention blocks, 12 feed-forward blocks
    assert by_family["full_ft"]["share of t5-small"] == "100.000%"
    assert by_family["lora"]["formula (t5-small)"].startswith("r × Σ (d_in + d_out) × matrices = 8 × [")


def test_agreement_notices_a_count_that_differs():
    rows = parameter_rows()
    rows[3]["analytic (this model)"] += 1
    assert counting.agreement(rows) == (7, 8)
