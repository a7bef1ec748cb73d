"""Settings of every notebook for each profile, kept as data in ``hwutils/settings/<notebook>.toml``.

A settings file has a ``[notebook]`` table (its title, topic package and headline metric), an
optional ``[common]`` table, one table per profile, and optionally ``[valid]`` (the valid values
of its own settings) and ``[edge]`` (edge values a user is likely to pick, run by the tests); both
profiles define the same names, so the two profiles differ only in values, never in code. Names follow one vocabulary across notebooks
(:mod:`hwutils.core.glossary`). A value
``"fixture:<name>"`` stands for the local folder of a fixture that ``hwutils.core.fixtures`` builds on
first use; any Hub id can be replaced by a local path.

>>> settings = load_settings("06_nano_transformer", "smoke", {"max_steps": 50})
>>> settings.max_steps
50
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwutils.core import ranges
from hwutils.core.errors import ConfigError

PROFILES = ("smoke", "full")
# Settings that never change what a run computes (where it runs, how many threads, whether the
# preflight estimate is shown): a checkpoint's fingerprint leaves them out, so changing one resumes.
NOT_COMPUTING = ("device", "threads", "preflight")
FIXTURE_PREFIX = "fixture:"
SETTINGS_DIR = Path(__file__).parents[1] / "settings"


class Settings(Mapping[str, Any]):
    """Read-only settings of one notebook run; ``settings.name`` or ``settings["name"]``."""

    def __init__(self, notebook: str, profile: str, values: Mapping[str, Any]):
        self._notebook = notebook
        self._profile = profile
        self._values = dict(values)

    @property
    def notebook(self) -> str:
        return self._notebook

    @property
    def profile(self) -> str:
        return self._profile

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise ConfigError(_unknown("setting", name, self._values)) from None

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def computing(self) -> dict[str, Any]:
        """The settings that can change what a run computes (all but :data:`NOT_COMPUTING`): the
        part of a checkpoint's fingerprint that comes from the settings."""
        return {k: v for k, v in self._values.items() if k not in NOT_COMPUTING}

    def __repr__(self) -> str:
        return f"Settings({self._notebook!r}, {self._profile!r}, {self._values!r})"

    def _repr_markdown_(self) -> str:
        """What differs from the profile's defaults (the overrides), one line for the rest, and every
        setting in a folded table (open in Jupyter; closed, so one line, in a printed report)."""
        changed = _changed_settings(self._notebook, self._profile, self._values)
        lines = [f"**{self._notebook}**, profile `{self._profile}`: {len(self._values)} settings, "
                 + (f"{len(changed)} changed by OVERRIDES:" if changed else "none changed by OVERRIDES.")]
        if changed:
            lines += ["", "| changed setting | value | profile default |", "|---|---|---|"]
            lines += [f"| `{name}` | `{self._values[name]!r}` | `{default!r}` |" for name, default in changed.items()]
        rest = len(self._values) - len(changed)
        lines += ["", f"{'The other' if changed else 'All'} {rest} are the `{self._profile}` profile's defaults "
                      f"(`hwutils/settings/{self._notebook}.toml`); every value is saved in `results.json` under "
                      '`"settings"`.', "", f"<details><summary>all {len(self._values)} settings</summary>", "",
                  "| setting | value |", "|---|---|", *(f"| `{k}` | `{v!r}` |" for k, v in self._values.items()),
                  "", "</details>", ""]
        return "\n".join(lines)


def _changed_settings(notebook: str, profile: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: profile default}`` of the settings whose value is not the default (a ``fixture:`` default
    is compared as the path it resolves to, without building it); every setting if the notebook has
    no settings file."""
    try:
        defaults = profile_table(notebook)[profile]
    except (ConfigError, KeyError):
        return {name: None for name in values}
    changed = {}
    for name, value in values.items():
        default = defaults.get(name)
        if isinstance(default, str) and default.startswith(FIXTURE_PREFIX):
            from hwutils.core.paths import fixtures_dir

            fixture, _, subpath = default.removeprefix(FIXTURE_PREFIX).partition("/")
            if value == str(fixtures_dir() / fixture / subpath if subpath else fixtures_dir() / fixture):
                continue
        elif value == default and type(value) is type(default):
            continue
        changed[name] = default
    return changed


@dataclass(frozen=True)
class NotebookInfo:
    """The ``[notebook]`` table of a settings file: what the notebook is and what its headline is."""

    name: str
    title: str
    topic: str  # the topic package under hwutils/
    headline_method: str  # results.json: methods[headline_method].metrics[headline_metric]
    headline_metric: str


def notebook_info(notebook: str) -> NotebookInfo:
    """Title, topic package and headline metric of ``notebook``, from its settings file."""
    table = _read(notebook).get("notebook", {})
    method, _, metric = table.get("headline", "").partition(".")
    return NotebookInfo(notebook, table.get("title", notebook), table.get("topic", ""), method, metric)


def available_notebooks() -> list[str]:
    """Names of the notebooks that have a settings file."""
    return sorted(p.stem for p in SETTINGS_DIR.glob("*.toml"))


def profile_table(notebook: str) -> dict[str, dict[str, Any]]:
    """The raw, unresolved settings of ``notebook``: ``{profile: {name: value}}``."""
    data = _read(notebook)
    common = data.get("common", {})
    return {profile: {**common, **data.get(profile, {})} for profile in PROFILES}


def load_settings(notebook: str, profile: str, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings of ``notebook`` under ``profile``, with ``overrides`` applied and fixtures built.

    Raises ``ConfigError`` at once, in one line, for an unknown profile or setting name, an override
    whose type does not match the setting's, or a value outside the setting's valid range
    (:mod:`hwutils.core.ranges`: the vocabulary's rules and the notebook's ``[valid]`` table).
    """
    if profile not in PROFILES:
        raise ConfigError(_unknown("profile", profile, PROFILES))
    values = profile_table(notebook)[profile]
    for name, value in (overrides or {}).items():
        if name not in values:
            raise ConfigError(_unknown("setting", name, values) + f" (in OVERRIDES for {notebook})")
        values[name] = _coerce(name, value, values[name])
    found = ranges.problems(values, valid_values(notebook))
    if found:
        raise ConfigError(found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
    return Settings(notebook, profile, {name: resolve_fixture(value) for name, value in values.items()})


def valid_values(notebook: str) -> dict[str, Any]:
    """The notebook's own ``[valid]`` rules (see :mod:`hwutils.core.ranges`)."""
    return _read(notebook).get("valid", {})


def _read(notebook: str) -> dict[str, Any]:
    path = SETTINGS_DIR / f"{notebook}.toml"
    if not path.exists():
        raise ConfigError(_unknown("notebook", notebook, available_notebooks()))
    return tomllib.loads(path.read_text())


def resolve_fixture(value: Any) -> Any:
    """``"fixture:<name>[/<sub/path>]"`` becomes the fixture's local path; other values pass through."""
    if not (isinstance(value, str) and value.startswith(FIXTURE_PREFIX)):
        return value
    from hwutils.core import fixtures  # imported here: building fixtures pulls in torch and transformers

    name, _, subpath = value.removeprefix(FIXTURE_PREFIX).partition("/")
    return str(fixtures.fixture_path(name) / subpath) if subpath else str(fixtures.fixture_path(name))


def _coerce(name: str, value: Any, default: Any) -> Any:
    """An override keeps the type of the setting it replaces (ints are accepted for floats)."""
    if default is None or value is None:
        return value
    if isinstance(value, Path) and isinstance(default, str):
        return str(value)
    if isinstance(default, bool) or isinstance(value, bool):
        if isinstance(value, bool) and isinstance(default, bool):
            return value
    elif isinstance(default, float) and isinstance(value, int):
        return float(value)
    elif isinstance(value, type(default)):
        return value
    raise ConfigError(
        f"setting {name!r} expects {type(default).__name__} (default {default!r}), got {value!r}"
    )


def _unknown(kind: str, name: Any, valid: Any) -> str:
    return f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(map(str, valid)))}"
