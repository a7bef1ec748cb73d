"""Access to gated Hub models (Llama-3): the token comes from the environment, never from a notebook.

:func:`check_model_access` asks the Hub, before anything is downloaded, whether the token of this
machine (``HF_TOKEN``, or the one saved by ``huggingface-cli login``) may read a model, and turns
every refusal into ONE :class:`~hwutils.errors.AccessError` saying how to fix it. A local folder
needs no token. :func:`access_errors` does the same for errors raised while loading (transformers
wraps the Hub's ``GatedRepoError`` in a plain ``OSError``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from hwutils.errors import AccessError
from hwutils.sources import looks_like_path

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


def gated_message(model_id: str, has_token: bool) -> str:
    """What to do when the Hub refuses a gated model: with no token, log in; with one, accept the licence."""
    page = f"https://huggingface.co/{model_id}"
    if not has_token:
        return (f"model {model_id!r} is gated and no Hugging Face token was found: accept its licence at {page}, "
                f"then {LOGIN_HELP}")
    return (f"model {model_id!r} is gated and your Hugging Face token was refused: accept its licence at {page} "
            f"with the account of that token (approval can take a while), or log in with another account: {LOGIN_HELP}")


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
        raise AccessError(gated_message(source, has_token=where is not None)) from None
    except hub.RepositoryNotFoundError:
        raise AccessError(f"model {source!r} was not found on the Hub (or it is private and "
                          f"{'your token may not read it' if where else 'no token was found'}): check the id, or "
                          f"{LOGIN_HELP}") from None
    except hub.HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise AccessError(gated_message(source, has_token=where is not None)) from None
        raise AccessError(f"the Hub refused access to {source!r} (HTTP {status}): {LOGIN_HELP}") from None
    except OSError as error:  # requests' ConnectionError and timeouts are OSErrors
        raise AccessError(
            f"model {source!r} could not be checked on the Hub ({type(error).__name__}): this machine is offline or "
            "the Hub is unreachable; use PROFILE='smoke', or point the setting at a local copy, or set "
            "HF_HUB_OFFLINE=1 to use a copy already in the Hugging Face cache") from None
    return f"{source}: access granted (token from {where})" if where else f"{source}: public, no token needed"


@contextlib.contextmanager
def access_errors(source: str) -> Iterator[None]:
    """Turn a gated/unknown-repository failure raised while loading ``source`` into one ``AccessError``,
    including the ``OSError`` transformers raises ``from`` the Hub's ``GatedRepoError``."""
    from huggingface_hub import errors as hub

    try:
        yield
    except OSError as error:
        cause = error.__cause__
        if isinstance(cause, hub.GatedRepoError):
            raise AccessError(gated_message(source, has_token=token_source() is not None)) from None
        if isinstance(cause, hub.RepositoryNotFoundError):
            raise AccessError(f"model {source!r} was not found on the Hub (or it is private): check the id, "
                              f"or {LOGIN_HELP}") from None
        raise
