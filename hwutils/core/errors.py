"""Errors a student or grader can act on, shown as one line instead of a traceback wall.

IPython renders an exception through its ``_render_traceback_`` method when it has one, so a
notebook cell that fails with one of these errors shows just ``ConfigError: <what to do>``.
Outside IPython they are ordinary exceptions.
"""

from __future__ import annotations


class HwutilsError(Exception):
    """Base class: a problem with the user's input or environment, not a bug in hwutils."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ConfigError(HwutilsError):
    """An unknown profile, setting or name, or a setting of the wrong type."""


class DataError(HwutilsError):
    """A dataset, corpus or file that is missing or unusable."""


class AccessError(HwutilsError):
    """A Hub resource that needs a token or network access this machine does not have."""
