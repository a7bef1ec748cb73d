"""The results contract: what every notebook writes to ``OUTPUT_DIR/results.json``.

The run object (:mod:`hwutils.core.run`) writes the file after every recorded method, attached
table and numerical check, so a later failure never loses what came before. The batch summary
and the tests read these files only: no number in a report is typed by hand.

The document (``SCHEMA`` below is its JSON Schema; :func:`validate` checks a document against it)::

    {
      "schema_version": 1,
      "notebook": "02_roberta_mnli", "title": "...", "topic": "encoders",
      "profile": "smoke" | "full", "seed": 0,
      "started_at": "...", "updated_at": "...",
      "device": "cpu (x86_64)", "precision": "float32", "threads": 1,
      "versions": {"python": "3.11.7", "torch": "...", ...},
      "settings": {...every setting of the run...},
      "headline": {"method": "lora", "metric": "matched_accuracy", "value": 0.93},
      "methods": {
        "<method_key>": {
          "metrics": {"<metric_key>": number, ...},
          "trainable_parameters": int, "total_parameters": int, "trainable_share": float,
          "train": {"wall_time_s", "steps", "samples", "tokens", "peak_memory_mb", "memory_kind",
                    "device", "samples_per_s", "tokens_per_s"},
          "resumed_from_step": int,
          ... any other snake_case key ...
        }
      },
      "checks": {"<check_key>": {"value": ..., "passed": bool, "limit": ..., "method": ...}},
      "<any other snake_case key>": data the notebook attached (tables, curves, ...)
    }

Method, metric, check and attachment keys are snake_case (``lora_r8``, ``matched_accuracy``).
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from hwutils.core.display import plain
from hwutils.core.errors import ConfigError
from hwutils.core.training import RunStats

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1
VERSIONED_PACKAGES = ("torch", "transformers", "datasets", "peft", "adapters", "opendelta", "open_clip_torch",
                      "bitsandbytes", "trl", "accelerate", "scikit-learn", "imbalanced-learn", "hwutils")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

_SNAKE = {"type": "string", "pattern": SNAKE_CASE.pattern}
_NUMBER = {"type": ["number", "null"]}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "hwutils results.json",
    "type": "object",
    "required": ["schema_version", "notebook", "profile", "seed", "device", "precision", "versions", "settings",
                 "headline", "methods", "checks"],
    "propertyNames": _SNAKE,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "notebook": {"type": "string", "pattern": r"^\d\d_[a-z0-9_]+$"},
        "title": {"type": "string"},
        "topic": {"type": "string"},
        "profile": {"enum": ["smoke", "full"]},
        "seed": {"type": "integer"},
        "started_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "device": {"type": "string"},
        "precision": {"type": "string"},
        "threads": {"type": "integer"},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
        "settings": {"type": "object"},
        "headline": {
            "type": "object",
            "required": ["method", "metric", "value"],
            "properties": {"method": _SNAKE, "metric": _SNAKE, "value": _NUMBER},
        },
        "methods": {
            "type": "object",
            "propertyNames": _SNAKE,
            "additionalProperties": {
                "type": "object",
                "required": ["metrics"],
                "propertyNames": _SNAKE,
                "properties": {
                    "metrics": {"type": "object", "propertyNames": _SNAKE, "additionalProperties": _NUMBER},
                    "trainable_parameters": {"type": "integer", "minimum": 0},
                    "total_parameters": {"type": "integer", "minimum": 0},
                    "trainable_share": {"type": "number", "minimum": 0},
                    "resumed_from_step": {"type": "integer", "minimum": 0},
                    "train": {"type": "object", "required": ["wall_time_s", "peak_memory_mb", "device"]},
                },
            },
        },
        "checks": {
            "type": "object",
            "propertyNames": _SNAKE,
            "additionalProperties": {
                "type": "object",
                "required": ["value", "passed"],
                "properties": {"passed": {"type": "boolean"}},
            },
        },
    },
}
RESERVED_KEYS = frozenset(SCHEMA["properties"])


def snake_case_key(key: str, what: str = "key") -> str:
    """``key`` itself if it is snake_case, else a one-line ``ConfigError`` showing the convention."""
    if not isinstance(key, str) or not SNAKE_CASE.match(key):
        raise ConfigError(f"{what} {key!r} is not snake_case (lower-case words joined by '_', e.g. 'lora_r8', "
                          "'matched_accuracy')")
    return key


def method_record(metrics: Mapping[str, float], *, trainable_parameters: int | None = None,
                  total_parameters: int | None = None, stats: RunStats | None = None, **extra: Any) -> dict[str, Any]:
    """One method's entry in ``results.json``: metrics, parameter counts, training cost, extras."""
    record: dict[str, Any] = {"metrics": {snake_case_key(k, "metric"): v for k, v in metrics.items()}}
    if trainable_parameters is not None:
        record["trainable_parameters"] = int(trainable_parameters)
    if total_parameters is not None:
        record["total_parameters"] = int(total_parameters)
        if trainable_parameters is not None and total_parameters:
            record["trainable_share"] = trainable_parameters / total_parameters
    if stats is not None:
        record["train"] = stats.as_dict()
    for key, value in extra.items():
        record[snake_case_key(key, "method field")] = value
    return record


def environment_info() -> dict[str, Any]:
    """Python and package versions, and the device, recorded with every result."""
    import torch

    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    if torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        device = torch.cuda.get_device_name(0) + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible else "")
    else:
        device = f"cpu ({platform.processor() or platform.machine()})"
    return {"versions": versions, "device": device}


def write_document(output_dir: str | Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` as ``output_dir/results.json`` atomically (an interruption never leaves half a file)."""
    path = Path(output_dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(plain(document), indent=2, allow_nan=False, default=str) + "\n")
    os.replace(staging, path)
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    """The ``results.json`` in folder ``path`` (or the file ``path`` itself)."""
    path = Path(path)
    return json.loads((path / RESULTS_FILE if path.is_dir() else path).read_text())


def validate(document: Mapping[str, Any]) -> list[str]:
    """Every way ``document`` breaks the contract, as readable lines (empty when it is valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
                for error in sorted(validator.iter_errors(plain(document)), key=lambda e: list(map(str, e.absolute_path)))]
    headline = document.get("headline") or {}
    methods = document.get("methods") or {}
    if headline.get("value") is not None and headline.get("method") in methods:
        recorded = methods[headline["method"]].get("metrics", {}).get(headline.get("metric"))
        if recorded != headline["value"]:
            problems.append(f"headline: value {headline['value']!r} is not the recorded {headline['method']}."
                            f"{headline['metric']} ({recorded!r})")
    return problems
