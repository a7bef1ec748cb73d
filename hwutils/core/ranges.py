"""Valid values of settings, checked when settings are loaded: a bad value fails at once, in one line.

A rule is a small table: ``min`` / ``max`` (inclusive) or ``above`` / ``below`` (exclusive) for
numbers, ``choices`` for a closed set of values, ``min_items`` for lists, and ``each`` (a rule for
every item of a list). Rules come from two places:

* :data:`GENERAL_RULES`: what a setting name means everywhere (from the glossary's vocabulary:
  every ``<method>_lr`` is above 0, every batch size at least 1, every fraction in (0, 1], ...);
* a notebook's ``[valid]`` table in its settings file, for what only it knows
  (``prompt_shots = { min_items = 1, each = { min = 0, max = 8 } }``); it replaces the general
  rule of the same name.

>>> check_value("lora_r", 0, {"min": 1})
"setting 'lora_r' = 0 is not valid: it must be at least 1"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hwutils.core.precision import PRECISIONS

Rule = Mapping[str, Any]

# (pattern of setting names, rule): the first matching pattern applies.
GENERAL_RULES: list[tuple[str, Rule]] = [
    (r"^threads$", {"min": 0}),
    (r"^precision$", {"choices": list(PRECISIONS)}),
    (r"^preflight$", {"choices": ["stop", "warn", "off"]}),
    (r"^device$", {"pattern": r"^(auto|cpu|cuda(:\d+)?)$", "explain": '"auto", "cpu", "cuda" or "cuda:<n>"'}),
    (r"(^|_)lr$", {"above": 0}),
    (r"(^|_)batch_size$", {"min": 1}),
    (r"^gradient_accumulation_steps$", {"min": 1}),
    (r"^warmup_steps$", {"min": 0}),  # before the general "_steps" rule: no warm-up is a choice
    (r"(^|_)steps$", {"min": 1}),
    (r"(^|_)epochs$", {"above": 0}),
    (r"(^|_)examples$", {"min": 0}),
    (r"(^|_)fraction$", {"above": 0, "max": 1}),
    (r"^lora_r$", {"min": 1}),
    (r"^lora_alpha$", {"above": 0}),
    (r"^lora_dropout$", {"min": 0, "below": 1}),
    (r"^lora_targets$", {"min_items": 1}),
    (r"^weight_decay$", {"min": 0}),
    (r"^max_grad_norm$", {"min": 0}),
    (r"^warmup_ratio$", {"min": 0, "below": 1}),
    (r"^(eval_every|logging_steps)$", {"min": 1}),
    (r"^checkpoint_every$", {"min": 0}),
    (r"^dataloader_workers$", {"min": 0}),
    (r"^top_k$", {"min": 1}),
    (r"^prompt_tokens$", {"min": 1}),
    (r"^max_length$", {"min": 8}),
]


def general_rule(name: str) -> Rule | None:
    """The vocabulary-wide rule for ``name``, if there is one."""
    return next((rule for pattern, rule in GENERAL_RULES if re.search(pattern, name)), None)


def check_value(name: str, value: Any, rule: Rule) -> str | None:
    """Why ``value`` breaks ``rule``, as one line, or ``None`` when it is valid."""
    def bad(why: str) -> str:
        return f"setting {name!r} = {value!r} is not valid: {why}"

    if value is None:
        return None
    if "choices" in rule and value not in rule["choices"]:
        return bad(f"valid values are {', '.join(map(repr, rule['choices']))}")
    if "pattern" in rule and not (isinstance(value, str) and re.match(rule["pattern"], value)):
        return bad(f"it must be {rule.get('explain', rule['pattern'])}")
    if isinstance(value, (list, tuple)):
        if len(value) < rule.get("min_items", 0):
            return bad(f"it needs at least {rule['min_items']} item(s)")
        for item in value:
            problem = check_value(name, item, rule.get("each", {}))
            if problem:
                return problem.replace(f"= {item!r} is not valid", f"has the item {item!r}, which is not valid")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "min" in rule and value < rule["min"]:
            return bad(f"it must be at least {rule['min']}")
        if "max" in rule and value > rule["max"]:
            return bad(f"it must be at most {rule['max']}")
        if "above" in rule and value <= rule["above"]:
            return bad(f"it must be above {rule['above']}")
        if "below" in rule and value >= rule["below"]:
            return bad(f"it must be below {rule['below']}")
    return None


def problems(values: Mapping[str, Any], notebook_rules: Mapping[str, Rule]) -> list[str]:
    """Every setting of ``values`` that breaks its rule: the notebook's own where it has one (it
    replaces the general rule, e.g. a notebook where 0 means "automatic"), else the general rule."""
    found = []
    for name, value in values.items():
        rule = notebook_rules.get(name) or general_rule(name)
        problem = check_value(name, value, rule) if rule else None
        if problem:
            found.append(problem)
    return found
