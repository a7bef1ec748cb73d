from __future__ import annotations

import numpy as np

from hwutils.core.display import format_value, markdown_table, percent


def test_format_value():
    assert format_value(294912) == "294,912"
    assert format_value(0.123456) == "0.1235"
    assert format_value(float("nan")) == "n/a"
    assert format_value(123456.7) == "123,457"
    assert format_value(True) == "True"
    assert percent(0.12345) == "12.3%"


def test_markdown_table_renders_computed_values():
    table = markdown_table([{"method": "lora", "accuracy": np.float32(0.5), "params": np.int64(1000)}])
    assert table.splitlines() == ["| method | accuracy | params |", "|---|---|---|", "| lora | 0.5 | 1,000 |"]
