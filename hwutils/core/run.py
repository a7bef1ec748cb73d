"""The run object: one call after a notebook's parameters cell, and the results it keeps.

>>> run = start_run("06_nano_transformer", PROFILE, SEED, OUTPUT_DIR, OVERRIDES)  # doctest: +SKIP
>>> settings = run.settings                                                        # doctest: +SKIP

:func:`start_run` loads the settings of the profile (overrides applied, fixtures built), seeds every
random generator, picks the device, its precision and the CPU threads, creates the output folder,
quiets known library noise, and writes a first ``results.json``. Then:

* ``run.record(method, metrics, ...)`` keeps one method's results;
* ``run.attach(name, value)`` keeps any other table or curve the notebook computed;
* ``run.check(name, value, ...)`` records a numerical check with its value and pass/fail, and
  shows it, without raising: a failed tolerance never loses a result already computed.

Each of them rewrites ``results.json`` at once (:mod:`hwutils.core.results` documents the file).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hwutils.core.display import format_value, show_markdown, show_table
from hwutils.core.errors import ConfigError
from hwutils.core.paths import default_output_dir
from hwutils.core.precision import Precision, choose_precision
from hwutils.core.progress import headless
from hwutils.core.profiles import NotebookInfo, Settings, load_settings, notebook_info
from hwutils.core.results import (RESERVED_KEYS, SCHEMA_VERSION, environment_info, method_record, snake_case_key,
                                  write_document)
from hwutils.core.training import RunStats, pick_device, seed_everything

# Messages every notebook would otherwise print, each harmless and explained where it matters.
_QUIET_LOGGERS = (
    "bitsandbytes.backends.cpu.ops",  # a note about 'kernels-community' when bitsandbytes loads on a CPU
    "transformers.modeling_utils",  # "newly initialized: classifier..." (expected: the notebooks explain the new head)
    "datasets",
    "jax._src.xla_bridge",
)
_QUIET_WARNINGS = (
    r".*TypedStorage is deprecated.*",
    r".*`resume_download` is deprecated.*",
    r".*not compiled with flash attention.*",
    r".*mtime may not be reliable.*",  # the Trainer's note on some file systems (Colab's, Kaggle's)
)


def quiet_library_noise() -> None:
    """Silence log lines and warnings that say nothing about the run (each listed above with why)."""
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # forked DataLoader workers would warn
    if headless():  # a report keeps no live bar: datasets' map/filter bars would only clutter it
        try:
            import datasets

            datasets.disable_progress_bars()
        except ImportError:  # pragma: no cover - datasets is a dependency
            pass
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


@dataclass
class Run:
    """One execution of one notebook: its settings, where it computes, and what it found."""

    info: NotebookInfo
    settings: Settings
    seed: int
    output_dir: Path
    device: torch.device
    precision: Precision
    threads: int
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def notebook(self) -> str:
        return self.info.name

    @property
    def profile(self) -> str:
        return self.settings.profile

    @property
    def results_path(self) -> Path:
        return self.output_dir / "results.json"

    # -- recording -----------------------------------------------------------------------------

    def record(self, method: str, metrics: Mapping[str, float], *, trainable_parameters: int | None = None,
               total_parameters: int | None = None, stats: RunStats | None = None, **extra: Any) -> dict[str, Any]:
        """Keep ``method``'s metrics, parameter counts, training cost and extras; write results.json."""
        entry = method_record(metrics, trainable_parameters=trainable_parameters, total_parameters=total_parameters,
                              stats=stats, **extra)
        self.document["methods"][snake_case_key(method, "method")] = entry
        self._update_headline()
        self.save()
        return entry

    def attach(self, name: str, value: Any) -> None:
        """Keep any other result (a table, a curve, a count) under ``name``; write results.json."""
        snake_case_key(name, "results key")
        if name in RESERVED_KEYS:
            raise ConfigError(f"{name!r} is a reserved results.json key; reserved: {', '.join(sorted(RESERVED_KEYS))}")
        self.document[name] = value
        self.save()

    def check(self, name: str, value: Any, *, passed: bool | None = None, at_most: float | None = None,
              at_least: float | None = None, method: str | None = None, show: bool = True) -> bool:
        """Record a numerical check (``value`` against ``at_most``/``at_least``, or an explicit
        ``passed``) and return whether it passed. It never raises: the notebook goes on and the
        batch summary lists failed checks."""
        if passed is None:
            if at_most is None and at_least is None:
                raise ConfigError(f"check {name!r} needs passed=, at_most= or at_least=")
            passed = (at_most is None or value <= at_most) and (at_least is None or value >= at_least)
        entry: dict[str, Any] = {"value": value, "passed": bool(passed)}
        if at_most is not None:
            entry["at_most"] = at_most
        if at_least is not None:
            entry["at_least"] = at_least
        if method is not None:
            entry["method"] = method
        self.document["checks"][snake_case_key(name, "check")] = entry
        self.save()
        if show:
            limit = (f" (at most {format_value(at_most)})" if at_most is not None else "") + \
                    (f" (at least {format_value(at_least)})" if at_least is not None else "")
            mark = "✓ passed" if passed else "✗ **FAILED**"
            show_markdown(f"Check `{name}`: {format_value(value)}{limit}: {mark}")
        return bool(passed)

    def save(self) -> Path:
        """Write results.json now (every record, attach and check already does)."""
        self.document["updated_at"] = _now()
        return write_document(self.output_dir, self.document)

    def _update_headline(self) -> None:
        headline = self.document["headline"]
        metrics = self.document["methods"].get(headline["method"], {}).get("metrics", {})
        headline["value"] = metrics.get(headline["metric"])

    # -- the GPU preflight -----------------------------------------------------------------------

    def preflight(self, workloads: Callable[[Settings], Sequence[Any]]) -> None:
        """Estimate what the full profile's methods need on a T4, an L4 and an A100 (a table), and,
        in the full profile, stop at once with one line if this device is too small (unless the
        ``preflight`` setting is ``"warn"``); ``"off"`` skips both the estimate and the check. ``workloads(settings)`` comes from the
        topic package (``hwutils/<topic>/preflight.py``). Recorded as ``preflight`` in results.json."""
        from hwutils.core import preflight

        if self.settings.get("preflight", "stop") == "off":
            # building the full profile's models on the meta device takes a few CPU seconds; a user
            # (or a test) who does not need the estimate skips it, and nothing else changes
            show_markdown('Preflight off (`preflight = "off"`): no estimate, and no check of this device.')
            self.attach("preflight", [])
            return
        full = self.settings if self.profile == "full" else load_settings(self.notebook, "full")
        estimates = preflight.estimate_all(list(workloads(full)))
        rows = preflight.fit_table(estimates)
        show_table(rows, caption="Full profile, estimated peak GPU memory and time per method "
                                 f"(analytic, from the real architectures; {int(preflight.UTILISATION * 100)}% "
                                 "of peak FLOP/s assumed)")
        if self.profile == "full":
            checked = preflight.check_device(list(workloads(self.settings)), self.device, self.profile,
                                             self.settings.get("preflight", "stop"))
            if checked:
                worst = max(checked, key=lambda e: e.total)
                show_markdown(f"This device ({worst.gpu.name}): the largest method, {worst.workload}, needs about "
                              f"{worst.total / preflight.GIB:.1f} GiB: {'fits' if worst.fits else '**does not fit**'}.")
        self.attach("preflight", [e.row() for e in estimates])

    # -- display -------------------------------------------------------------------------------

    def describe(self) -> str:
        return (f"**{self.info.title}** · profile `{self.profile}` · seed {self.seed} · device `{self.device}` · "
                f"precision {self.precision} · {self.threads} CPU thread(s) · outputs in `{self.output_dir}`")

    def _repr_markdown_(self) -> str:
        return self.describe() + "\n\n" + self.settings._repr_markdown_()


def start_run(notebook: str, profile: str, seed: int, output_dir: str | Path = "",
              overrides: Mapping[str, Any] | None = None) -> Run:
    """Set up a notebook run (see the module docstring) and return it."""
    info = notebook_info(notebook)
    settings = load_settings(notebook, profile, overrides)
    quiet_library_noise()
    threads = int(settings.get("threads", 0) or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    seed_everything(seed)
    device = pick_device(settings.get("device", "auto"))
    # a notebook without a precision setting computes in float32 everywhere
    precision = choose_precision(device, settings.get("precision", "float32"))
    # An empty OUTPUT_DIR means reports/<notebook>: in the checkout, or in the working folder when
    # the notebook runs on its own (Colab, Kaggle).
    output_dir = Path(output_dir).expanduser().resolve() if str(output_dir) else default_output_dir(notebook)
    output_dir.mkdir(parents=True, exist_ok=True)
    run = Run(info, settings, seed, output_dir, device, precision, torch.get_num_threads())
    run.document = {
        "schema_version": SCHEMA_VERSION,
        "notebook": notebook,
        "title": info.title,
        "topic": info.topic,
        "profile": profile,
        "seed": seed,
        "started_at": _now(),
        "updated_at": _now(),
        **environment_info(),
        "precision": precision.name,
        "threads": run.threads,
        "settings": settings.as_dict(),
        "headline": {"method": info.headline_method, "metric": info.headline_metric, "value": None},
        "methods": {},
        "checks": {},
    }
    run.save()
    return run


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
