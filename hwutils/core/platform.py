"""Where a notebook runs (a checkout, Colab, Kaggle), and what its set-up cell does there.

Every notebook opens with the same set-up cell (written by ``hwutils setup-cell --write``): where
hwutils is missing it installs the project alone (``--no-deps``), then calls
:func:`install_dependencies` for the rest (keeping the platform's torch and what the kernel has
imported), which ends with :func:`report_install`; then :func:`prepare_platform`. This module
imports nothing outside the standard library: it runs before the dependencies are installed.
Nothing here prints or stores a token.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from importlib import metadata

# The platform's torch is a multi-gigabyte CUDA build matched to its driver: an install never replaces it.
TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


def platform_name() -> str:
    """``"colab"``, ``"kaggle"`` or ``"local"``."""
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or os.path.isdir("/kaggle/working"):
        return "kaggle"
    return "local"


def canonical_name(name: str) -> str:
    """A distribution's name as pip compares it: ``Jupyter_Client`` and ``jupyter-client`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> dict[str, str]:
    """``{distribution name: version}`` of everything installed in this Python."""
    return {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions() if d.metadata["Name"]}


def install_changes(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, tuple[str | None, str]]:
    """Packages the install added or changed: ``{name: (old version or None, new version)}``."""
    return {name: (before.get(name), version) for name, version in sorted(after.items()) if before.get(name) != version}


def imported_distributions(loaded: Mapping[str, object] | None = None,
                           owners: Mapping[str, list[str]] | None = None) -> set[str]:
    """Canonical names of the installed distributions this Python has imported a module of (``IPython``
    belongs to ``ipython``, ``zmq`` to ``pyzmq``: import names are looked up, not guessed)."""
    loaded = sys.modules if loaded is None else loaded
    owners = metadata.packages_distributions() if owners is None else owners
    top_level = {name.partition(".")[0] for name in list(loaded)}
    return {canonical_name(owner) for name in top_level for owner in owners.get(name, [])}


def kept_versions(installed: Mapping[str, str], loaded: Mapping[str, object] | None = None,
                  owners: Mapping[str, list[str]] | None = None) -> dict[str, str]:
    """What the install must leave as it is: the platform's torch, and every package this kernel has
    already imported (changing one would need a restart, and on Colab its kernel runs on them)."""
    keep = imported_distributions(loaded, owners) | set(TORCH_FAMILY)
    return {canonical_name(name): version for name, version in installed.items() if canonical_name(name) in keep}


def modules_needing_restart(changes: Mapping[str, tuple[str | None, str]], loaded: Mapping[str, object] | None = None,
                            owners: Mapping[str, list[str]] | None = None) -> list[str]:
    """Changed packages that this kernel had already imported: their old code stays loaded until a restart."""
    imported = imported_distributions(loaded, owners)
    return sorted(name for name, (old, _) in changes.items() if old is not None and canonical_name(name) in imported)


def declared_dependencies(distribution: str = "hwutils") -> list[str]:
    """The requirements ``distribution`` declares, without its optional extras."""
    return [r for r in metadata.requires(distribution) or [] if "extra" not in r.partition(";")[2]]


def install_dependencies(before: Mapping[str, str], opendelta: str, requirements: list[str] | None = None,
                         loaded: Mapping[str, object] | None = None,
                         run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> None:
    """The set-up cell's install, once hwutils itself is in (``--no-deps``): its dependencies, with the
    platform's torch and every package the kernel has imported held at their versions (pip constraints)
    wherever pyproject's ranges allow; then ``opendelta`` without its dependencies; then the report.

    When the ranges need an imported package to change, it installs anyway (torch still held) and the
    report asks for a restart. ``before`` is :func:`installed_versions` from before hwutils went in.
    """
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    requirements = declared_dependencies() if requirements is None else requirements
    kept = kept_versions(before, loaded)
    torch_only = {name: version for name, version in kept.items() if name in TORCH_FAMILY}
    with tempfile.TemporaryDirectory(prefix="hwutils-setup-") as folder:
        attempt = run(pip + _constraints(folder, "kept", kept) + requirements, capture_output=True, text=True)
        if attempt.returncode == 0:
            print(attempt.stderr, end="", file=sys.stderr)  # pip's warnings, if any
        elif "ResolutionImpossible" in attempt.stderr:
            print("set-up: the project's version ranges need a package this kernel has already imported to change; "
                  "installing anyway (torch stays as it is)")
            run(pip + _constraints(folder, "torch", torch_only) + requirements, check=True)
        else:
            print(attempt.stderr, end="", file=sys.stderr)
            raise subprocess.CalledProcessError(attempt.returncode, attempt.args, attempt.stdout, attempt.stderr)
    run(pip + ["--no-deps", opendelta], check=True)
    report_install(before)


def _constraints(folder: str, name: str, versions: Mapping[str, str]) -> list[str]:
    """pip's ``-c <file>`` arguments holding ``versions`` exactly."""
    path = os.path.join(folder, f"{name}.txt")
    with open(path, "w") as out:
        out.write("".join(f"{package}=={version}\n" for package, version in sorted(versions.items())))
    return ["-c", path]


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
