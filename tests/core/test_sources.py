"""Gated Hub models: a missing or refused token fails with ONE clear AccessError (simulated, offline)."""

from __future__ import annotations

import huggingface_hub.constants  # noqa: F401  (so monkeypatch can reach it as an attribute)
import pytest

from hwutils.core import sources as hub_auth
from hwutils.core.sources import hub_errors
from hwutils.core.errors import AccessError

MODEL = "meta-llama/Meta-Llama-3-8B"


def gated(*args, **kwargs):
    from huggingface_hub.errors import GatedRepoError

    raise GatedRepoError("403 Client Error: access to model meta-llama/Meta-Llama-3-8B is restricted")


@pytest.fixture
def no_token(monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_missing_token_for_a_gated_model_is_one_clear_error(no_token, monkeypatch):
    import huggingface_hub

    seen = {}

    def check(repo_id, token=None):
        seen["token"] = token
        gated()

    monkeypatch.setattr(huggingface_hub, "auth_check", check)
    with pytest.raises(AccessError) as error:
        hub_auth.check_model_access(MODEL)
    message = str(error.value)
    assert "gated" in message and "no Hugging Face token was found" in message
    assert "huggingface-cli login" in message and "HF_TOKEN" in message
    assert f"https://huggingface.co/{MODEL}" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__  # one line, no chained traceback
    assert error.value._render_traceback_() == [f"AccessError: {message}"]
    assert seen["token"] is False  # no token was looked for or sent


def test_refused_token_says_to_accept_the_licence(monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "auth_check", gated)
    with pytest.raises(AccessError, match="your Hugging Face token was refused: accept its licence") as error:
        hub_auth.check_model_access(MODEL)
    assert "hf_not_a_real_token" not in str(error.value)  # the token is never echoed


def test_unreachable_hub_and_local_folders(no_token, monkeypatch, tmp_path):
    import huggingface_hub
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "auth_check", offline)
    with pytest.raises(AccessError, match="offline or the Hub is unreachable; use PROFILE='smoke'"):
        hub_auth.check_model_access(MODEL)
    assert "no token needed" in hub_auth.check_model_access(str(tmp_path))


def test_granted_access_names_the_token_source_not_the_token(monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "auth_check", lambda repo_id, token=None: None)
    status = hub_auth.check_model_access(MODEL)
    assert "access granted (token from HF_TOKEN)" in status and "hf_secret" not in status


def test_gated_error_raised_while_loading_becomes_one_access_error(no_token):
    from huggingface_hub.errors import GatedRepoError

    with pytest.raises(AccessError, match="is gated and no Hugging Face token was found"):
        with hub_errors(MODEL, "model"):
            try:
                raise GatedRepoError("403")
            except GatedRepoError as cause:  # what transformers does: OSError(...) from GatedRepoError
                raise OSError("You are trying to access a gated repo.") from cause
    with pytest.raises(OSError, match="disk full"):  # other OSErrors pass through
        with hub_errors(MODEL, "model"):
            raise OSError("disk full")
