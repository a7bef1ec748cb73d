"""Where a notebook runs (a checkout, Colab, Kaggle), and what its set-up cell does there.

Every notebook opens with the same set-up cell (written by ``hwutils setup-cell --write``): where
hwutils is missing it installs the project, then calls :func:`report_install` and
:func:`prepare_platform`. Nothing here prints or stores a token.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from importlib import metadata


def platform_name() -> str:
    """``"colab"``, ``"kaggle"`` or ``"local"``."""
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or os.path.isdir("/kaggle/working"):
        return "kaggle"
    return "local"


def installed_versions() -> dict[str, str]:
    """``{distribution name: version}`` of everything installed in this Python."""
    return {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions() if d.metadata["Name"]}


def install_changes(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, tuple[str | None, str]]:
    """Packages the install added or changed: ``{name: (old version or None, new version)}``."""
    return {name: (before.get(name), version) for name, version in sorted(after.items()) if before.get(name) != version}


def modules_needing_restart(changes: Mapping[str, tuple[str | None, str]], loaded: Mapping[str, object] | None = None) -> list[str]:
    """Changed packages that this kernel had already imported: their old code stays loaded until a restart."""
    loaded = sys.modules if loaded is None else loaded
    names = {name.replace("-", "_") for name, (old, _) in changes.items() if old is not None}
    return sorted(name for name in names if name in loaded)


def report_install(before: Mapping[str, str]) -> None:
    """Say what the set-up cell's install changed, and whether the runtime must be restarted."""
    changes = install_changes(before, installed_versions())
    if not changes:
        print("set-up: nothing was installed or changed")
        return
    lines = [f"  {name}: {old or 'new'} -> {new}" for name, (old, new) in changes.items()]
    print(f"set-up: installed or changed {len(changes)} package(s):\n" + "\n".join(lines))
    stale = modules_needing_restart(changes)
    if stale:
        print(f"RESTART the runtime now (Runtime > Restart session), then run the notebook from the top: "
              f"{', '.join(stale)} changed after being imported.")
    else:
        print("no restart needed: none of the changed packages had been imported yet")


def prepare_platform() -> str:
    """Bring the platform's Hub token into the environment where huggingface_hub does not look for
    it (Kaggle's secrets store), without printing it; return a one-line status."""
    where = platform_name()
    if where == "kaggle" and not os.environ.get("HF_TOKEN"):
        try:
            from kaggle_secrets import UserSecretsClient  # only exists on Kaggle

            token = UserSecretsClient().get_secret("HF_TOKEN")
        except Exception:  # no secret of that name, or secrets not attached to this notebook
            token = None
        if token:
            os.environ["HF_TOKEN"] = token
            return "kaggle: HF_TOKEN read from Kaggle's secrets (not shown)"
        return "kaggle: no HF_TOKEN secret attached (needed only for gated models: Add-ons > Secrets)"
    if where == "colab":
        return "colab: huggingface_hub reads an HF_TOKEN secret from Colab's Secrets panel (needed only for gated models)"
    return f"{where}: Hub token, if any, from HF_TOKEN or `huggingface-cli login`"
