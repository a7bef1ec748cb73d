"""How many parameters each method trains: derived from the hyper-parameters and a T5 configuration,
and counted after applying the from-scratch method to that architecture (built on PyTorch's
``meta`` device: shapes without memory, so t5-small is counted offline in both profiles)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwutils.core.display import percent
from hwutils.core.models import count_parameters, on_meta_device
from hwutils.t5_peft import adapters, lora, prompts, t5_layout
from hwutils.t5_peft.methods import FAMILIES, HyperParameters, Method


def analytic_parameters(config: Any, hyper: HyperParameters) -> dict[str, tuple[int, str]]:
    """Per family: ``(trainable parameters, the formula with this configuration's numbers)``."""
    return {
        "full_ft": (t5_layout.total_parameters(config), t5_layout.total_parameters_formula(config)),
        "prompt_tuning": (prompts.count_parameters(config, hyper.prompt), prompts.parameter_formula(config, hyper.prompt)),
        "adapter": (adapters.count_parameters(config, hyper.adapter), adapters.parameter_formula(config, hyper.adapter)),
        "lora": (lora.count_parameters(config, hyper.lora), lora.parameter_formula(config, hyper.lora)),
    }


def counted_parameters(config: Any, table: Mapping[str, Method]) -> dict[str, int]:
    """Per family: trainable parameters after its from-scratch method (full fine-tuning: nothing)
    is applied to a T5 of ``config`` built on the meta device."""
    from transformers import T5ForConditionalGeneration

    by_family = {m.family: m for m in table.values() if m.implementation in ("scratch", "pytorch")}
    return {family: count_parameters(by_family[family].build(on_meta_device(T5ForConditionalGeneration, config))).trainable
            for family in FAMILIES}


def parameter_table(table: Mapping[str, Method], configs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per family: analytic and counted trainable parameters for each of ``configs``
    (``{"this model": ..., "t5-small": ...}``), the share of the last configuration's total, and the
    formulas."""
    hyper = next(iter(table.values())).hyper
    analytic = {name: analytic_parameters(config, hyper) for name, config in configs.items()}
    counted = {name: counted_parameters(config, table) for name, config in configs.items()}
    last = list(configs)[-1]
    rows = []
    for family in FAMILIES:
        row: dict[str, Any] = {"family": family}
        for name in configs:
            row[f"analytic ({name})"], row[f"counted ({name})"] = analytic[name][family][0], counted[name][family]
        row[f"share of {last}"] = percent(counted[last][family] / counted[last]["full_ft"], 3)
        rows.append(row | {f"formula ({name})": analytic[name][family][1] for name in configs})
    return rows


def agreement(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """``(analytic counts equal to the counted ones, analytic counts)`` in :func:`parameter_table`'s rows."""
    pairs = [(row[key], row[key.replace("analytic", "counted")]) for row in rows for key in row if key.startswith("analytic (")]
    return sum(analytic == counted for analytic, counted in pairs), len(pairs)
