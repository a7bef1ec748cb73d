"""Hub id or local path, and Hub access: the one place that turns loading failures into actionable errors.

Every loader in hwutils accepts either a Hugging Face Hub id (``"imdb"``, ``"t5-small"``) or a
local folder or file. A value that looks like a path but does not exist fails at once; a Hub id
that cannot be reached (offline, gated, missing) fails with one line saying how to fix it.

:func:`check_model_access` asks the Hub, before anything is downloaded, whether this machine's token
(``HF_TOKEN``, or the one saved by ``huggingface-cli login``) may read a gated model. The token
comes from the environment, never from a notebook, and is never printed or stored.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from hwutils.core.errors import AccessError, DataError


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


LOGIN_HELP = ("run `huggingface-cli login` (or `export HF_TOKEN=<your token>`) in a terminal, then restart "
              "the kernel; never put the token in the notebook")


def token_source() -> str | None:
    """Where this machine's Hub token comes from (``"HF_TOKEN"`` or ``"huggingface-cli login"``), or None.

    The token itself is never returned, printed or stored by hwutils.
    """
    from huggingface_hub import get_token

    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return "HF_TOKEN"
    return "huggingface-cli login" if get_token() else None


def gated_message(source: str, has_token: bool) -> str:
    """What to do when the Hub refuses a gated repository: with no token, log in; with one, accept the licence."""
    page = f"https://huggingface.co/{source}"
    if not has_token:
        return f"{source!r} is gated and no Hugging Face token was found: accept its licence at {page}, then {LOGIN_HELP}"
    return (f"{source!r} is gated and your Hugging Face token was refused: accept its licence at {page} with the "
            f"account of that token (approval can take a while), or log in with another account: {LOGIN_HELP}")


@contextlib.contextmanager
def hub_errors(source: str, what: str = "dataset") -> Iterator[None]:
    """Translate Hub failures while loading ``source`` into one clear ``AccessError``.

    Libraries often wrap the Hub's error (transformers raises ``OSError(...) from GatedRepoError``),
    so the cause is looked at too; an unrelated ``OSError`` (a full disk) passes through.
    """
    from huggingface_hub import errors as hub

    try:
        yield
    except Exception as error:
        cause = error if isinstance(error, hub.HfHubHTTPError) else (error.__cause__ or error)
        if isinstance(cause, hub.GatedRepoError):
            raise AccessError(f"{what} " + gated_message(source, has_token=token_source() is not None)) from None
        if isinstance(cause, hub.RepositoryNotFoundError):
            raise AccessError(
                f"{what} {source!r} was not found on the Hub (or it is private and no valid token is set): "
                f"check the id, or {LOGIN_HELP}"
            ) from None
        if isinstance(cause, (hub.LocalEntryNotFoundError, hub.OfflineModeIsEnabled, ConnectionError)):
            raise AccessError(
                f"{what} {source!r} could not be fetched from the Hub ({type(cause).__name__}): this machine "
                "is offline or the Hub is unreachable; use PROFILE='smoke' or point the setting at a local copy"
            ) from None
        raise


def check_model_access(source: str) -> str:
    """Fail now, with one clear ``AccessError``, if ``source`` is a Hub model this machine may not
    read (gated without a token, token refused, unknown, Hub unreachable). Returns a one-line
    status for the notebook."""
    if looks_like_path(source):
        return f"{source}: a local folder, no token needed"
    from huggingface_hub import auth_check, constants
    from huggingface_hub import errors as hub

    if constants.HF_HUB_OFFLINE:
        return f"{source}: offline mode (HF_HUB_OFFLINE), the local cache will be used"
    where = token_source()
    try:
        auth_check(source, token=None if where else False)  # False: do not even look for a token
    except hub.GatedRepoError:
        raise AccessError("model " + gated_message(source, has_token=where is not None)) from None
    except hub.RepositoryNotFoundError:
        raise AccessError(f"model {source!r} was not found on the Hub (or it is private and "
                          f"{'your token may not read it' if where else 'no token was found'}): check the id, or "
                          f"{LOGIN_HELP}") from None
    except hub.HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise AccessError("model " + gated_message(source, has_token=where is not None)) from None
        raise AccessError(f"the Hub refused access to {source!r} (HTTP {status}): {LOGIN_HELP}") from None
    except OSError as error:  # requests' ConnectionError and timeouts are OSErrors
        raise AccessError(
            f"model {source!r} could not be checked on the Hub ({type(error).__name__}): this machine is offline or "
            "the Hub is unreachable; use PROFILE='smoke', or point the setting at a local copy, or set "
            "HF_HUB_OFFLINE=1 to use a copy already in the Hugging Face cache") from None
    return f"{source}: access granted (token from {where})" if where else f"{source}: public, no token needed"
