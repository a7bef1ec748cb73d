"""Access to gated Hub models (Llama-3): the token comes from the environment, never from a notebook.

:func:`check_model_access` asks the Hub, before anything is downloaded, whether the token of this
machine (``HF_TOKEN``, or the one saved by ``huggingface-cli login``) may read a model, and turns
every refusal into ONE :class:`~hwutils.errors.AccessError` saying how to fix it. A local folder
needs no token. Errors raised later, while loading, are translated by ``hwutils.sources.hub_errors``.
"""

from __future__ import annotations

from hwutils.errors import AccessError
from hwutils.sources import LOGIN_HELP, gated_message, looks_like_path, token_source

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
