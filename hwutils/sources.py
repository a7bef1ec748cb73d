"""Hub id or local path: the one place that turns loading failures into actionable errors.

Every loader in hwutils accepts either a Hugging Face Hub id (``"imdb"``, ``"t5-small"``) or a
local folder or file. A value that looks like a path but does not exist fails at once; a Hub id
that cannot be reached (offline, gated, missing) fails with one line saying how to fix it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from hwutils.errors import AccessError, DataError


def looks_like_path(source: str) -> bool:
    """True for absolute, home-relative or explicitly relative paths, and for existing paths."""
    return source.startswith(("/", "./", "../", "~")) or os.path.exists(source)


def check_source(source: str, what: str = "dataset") -> str:
    """Return ``source`` (with ``~`` expanded) if it is a Hub id or an existing local path."""
    if not isinstance(source, str) or not source:
        raise DataError(f"{what} source must be a Hub id or a local path, got {source!r}")
    if looks_like_path(source):
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(f"{what} path {str(path)!r} does not exist; give an existing folder or a Hub id")
        return str(path)
    return source


@contextlib.contextmanager
def hub_errors(source: str, what: str = "dataset") -> Iterator[None]:
    """Translate Hub failures while loading ``source`` into one clear ``AccessError``."""
    from huggingface_hub import errors as hub

    try:
        yield
    except hub.GatedRepoError:
        raise AccessError(
            f"{what} {source!r} is gated: accept its licence on huggingface.co, then log in with "
            "`huggingface-cli login` or export HF_TOKEN=<your token> before starting Jupyter"
        ) from None
    except hub.RepositoryNotFoundError:
        raise AccessError(
            f"{what} {source!r} was not found on the Hub (or it is private and no valid token is set: "
            "`huggingface-cli login` or export HF_TOKEN)"
        ) from None
    except (hub.LocalEntryNotFoundError, hub.OfflineModeIsEnabled, ConnectionError) as error:
        raise AccessError(
            f"{what} {source!r} could not be fetched from the Hub ({type(error).__name__}): this machine "
            "is offline or the Hub is unreachable; use PROFILE='smoke' or point the setting at a local copy"
        ) from None
