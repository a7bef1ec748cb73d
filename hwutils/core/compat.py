"""Shims that let an old library run with today's stack. Each says why it exists.

``opendelta`` 0.3.2 (2022) is the only library that needs one:

* it imports ``DeltaCenter`` (its model-sharing client, whose ``oss2`` dependency no longer
  installs) at import time, for uploads we never do: a stub module stands in;
* it imports ``web`` (web.py) for an optional interactive module picker and instantiates it at
  import time: a stub whose server refuses to start stands in;
* it imports ``transformers.deepspeed``, which transformers moved to
  ``transformers.integrations.deepspeed``: the old name is aliased to the new module.

After :func:`import_opendelta`, its LoraModel, AdapterModel, SoftPromptModel, LowRankAdapter,
Compacter and save/load work on T5 (tested in ``tests/test_compat.py``).
"""

from __future__ import annotations

import importlib.util
import sys
import types


class _OpendeltaWebUnavailable:
    """Stands in for ``web.application``: building it is harmless, serving is refused."""

    def __init__(self, *args, **kwargs):
        pass

    def run(self, *args, **kwargs):
        raise RuntimeError("opendelta's interactive web picker is disabled in this project (hwutils.core.compat)")


def _refuse(*args, **kwargs):
    raise RuntimeError("opendelta's interactive web picker is disabled in this project (hwutils.core.compat)")


def _importable(name: str) -> bool:
    return name in sys.modules or importlib.util.find_spec(name) is not None


def install_opendelta_shims() -> None:
    """Register the stub modules and the alias (idempotent; never replaces a real module)."""
    if not _importable("DeltaCenter"):
        delta_center = types.ModuleType("DeltaCenter")
        delta_center.OssClient = None  # only used to upload to the DeltaCenter
        sys.modules["DeltaCenter"] = delta_center
    if not _importable("web"):
        web = types.ModuleType("web")
        web.application = _OpendeltaWebUnavailable
        web.template = types.SimpleNamespace(render=lambda *args, **kwargs: None)
        web.httpserver = types.SimpleNamespace(runsimple=_refuse)
        web.input = _refuse
        sys.modules["web"] = web
    if "transformers.deepspeed" not in sys.modules:
        import transformers.integrations.deepspeed as deepspeed

        sys.modules["transformers.deepspeed"] = deepspeed


def import_opendelta() -> types.ModuleType:
    """``import opendelta`` with the shims installed first."""
    install_opendelta_shims()
    import opendelta

    return opendelta
