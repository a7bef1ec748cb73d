"""Shared, read-only objects of the notebook-09 unit tests: the smoke settings and the tiny model."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smoke_settings():
    from hwutils.core.profiles import load_settings

    return load_settings("09_persian_llm", "smoke")


@pytest.fixture(scope="session")
def tiny_lm(smoke_settings):
    """(model, tokenizer) of the smoke profile's tiny Persian LM, in eval mode. Tests must not train it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smoke_settings.model)
    model = AutoModelForCausalLM.from_pretrained(smoke_settings.model).eval()
    return model, tokenizer
