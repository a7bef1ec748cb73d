"""Notebooks 06 and 01 as a Colab user meets them: opened on their own, in a Python that already
has its own torch, transformers, numpy and pandas, with the set-up cell installing the project.

The test builds a Python 3.12 virtual environment preloaded with a Colab-like set of packages at
versions that differ from requirements.lock (:data:`COLAB_PACKAGES`), copies notebooks 06 and 01,
with the generated set-up cell, into a working folder outside the repository and executes them
there in the smoke profile with that environment's kernel. ``HWUTILS_SOURCE`` points the set-up
cell at this checkout, so it installs the project exactly as it would from GitHub (``pip install``,
then opendelta with ``--no-deps``). It records the installed packages before and after, and checks
what a student depends on: both notebooks ran, torch and torchvision were not replaced, numpy and
pandas were kept where they fall in pyproject's ranges, the packages Colab's own kernel runs on
were not upgraded, the set-up cell's report lists exactly what changed and says whether a restart
is needed, and reports and fixtures landed in the working folder and the cache, not the checkout.

Slow, and the first run downloads about 3 GB (a CUDA build of torch): skipped unless
``HWUTILS_COLAB_TEST=1`` (``make test-colab``). The environment is built once into
``~/.cache/hwutils-colab-test/`` (``HWUTILS_COLAB_CACHE``) and reused; every run installs into a
hard-linked copy of it, so each starts from the same preinstalled packages. The working folder
(``<cache>/last-run/content``: executed notebooks, ``reports/``) and a home with an empty cache
(``<cache>/last-run/home``: the fixtures) stay there until the next run, beside ``summary.md``
(packages before and after, what the set-up cell printed, headline metrics, times).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hwutils.batch.setup_cell import SETUP_TAG, write_setup_cell

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("HWUTILS_COLAB_TEST") != "1",
                       reason="builds a Colab-like Python 3.12 (about 3 GB on the first run) and runs notebooks 06 "
                              "and 01 in it: `make test-colab` (HWUTILS_COLAB_TEST=1) runs it"),
]

ROOT = Path(__file__).resolve().parents[1]
COLAB_PYTHON = Path(os.environ.get("HWUTILS_COLAB_PYTHON", "/root/.pyenv/versions/3.12.1/bin/python"))
CACHE = Path(os.environ.get("HWUTILS_COLAB_CACHE", Path.home() / ".cache" / "hwutils-colab-test"))
NOTEBOOKS = ("06_nano_transformer", "01_t5_imdb")  # 06 meets a fresh runtime (installs), 01 the installed one
KERNEL = "colab-like"
NOTEBOOK_TIMEOUT_S = 3 * 3600  # two smoke notebooks on a busy 2-core machine; a hung kernel fails instead of hanging

# What a Colab runtime brings (Python 3.12; versions of the kind Colab shipped in 2025: google-colab
# pins ipykernel==6.17.1 and pandas==2.2.2), older than the lock where the project cares (torch,
# torchvision, transformers, numpy, pandas), with the Jupyter packages its kernel runs on.
# papermill is not on Colab; it stands in for the browser here.
COLAB_PACKAGES = (
    "pip==24.1.2",
    "torch==2.8.0", "torchvision==0.23.0",
    "transformers==4.55.4", "huggingface-hub==0.34.4", "datasets==4.0.0", "accelerate==1.10.1",
    "peft==0.17.1", "timm==1.0.19", "sentencepiece==0.2.1", "safetensors==0.6.2",
    "numpy==2.0.2", "pandas==2.2.2", "pillow==11.3.0", "scipy==1.16.1", "scikit-learn==1.6.1",
    "imbalanced-learn==0.14.0", "matplotlib==3.10.0", "seaborn==0.13.2",
    "tqdm==4.67.1", "rich==13.9.4", "psutil==5.9.5", "requests==2.32.4", "jsonschema==4.25.1",
    "ipykernel==6.17.1", "ipython==7.34.0", "ipywidgets==7.7.1", "tornado==6.4.2", "jupyter-client==7.4.9",
    "nbformat==5.10.4", "nbconvert==7.16.6",
    "papermill==2.6.0",
)
NEVER_REPLACED = ("torch", "torchvision")
KEPT_WITHIN_RANGE = ("numpy", "pandas")
# Colab warns that upgrading these "can cause your runtime to repeatedly crash" (its kernel runs on them).
COLAB_KERNEL_PACKAGES = ("ipykernel", "ipython", "tornado", "pyzmq", "prompt-toolkit", "jupyter-client")


def _pins(requirements) -> dict[str, str]:
    return {canonicalize_name(r.split("==")[0]): r.split("==")[1] for r in requirements}


# -- the Colab-like environment --------------------------------------------------------------------


def _cache_key() -> str:
    version = subprocess.run([str(COLAB_PYTHON), "-V"], capture_output=True, text=True, check=True).stdout.strip()
    return hashlib.sha256("\n".join((version, *COLAB_PACKAGES)).encode()).hexdigest()[:12]


def colab_base() -> tuple[Path, float]:
    """The preloaded environment (built on first use, then reused) and the seconds spent building it now."""
    if not COLAB_PYTHON.exists():
        pytest.skip(f"no Python 3.12 at {COLAB_PYTHON} (set HWUTILS_COLAB_PYTHON)")
    base = CACHE / f"base-{_cache_key()}"
    if (base / ".complete").exists():
        return base, 0.0
    start = time.perf_counter()
    partial = base.with_name(base.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(COLAB_PYTHON), "-m", "venv", str(partial)], check=True)
    python = str(partial / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--no-cache-dir"]  # the environment itself is the cache
    subprocess.run(pip + [COLAB_PACKAGES[0]], check=True, env=_clean_env())
    subprocess.run(pip + list(COLAB_PACKAGES[1:]), check=True, env=_clean_env())
    (partial / ".complete").write_text(json.dumps(pip_list(Path(python)), indent=1))
    # a venv's scripts carry its path; everything here runs as `python -m`, so the folder may move
    partial.rename(base)
    return base, time.perf_counter() - start


def fresh_runtime(base: Path, folder: Path) -> Path:
    """A copy of the preloaded environment that the set-up cell may change (hard links: seconds, no
    space; pip replaces files rather than writing into them, so the base stays as built)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(base), str(folder)], check=True)
    python = folder / "bin" / "python"
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(folder), "--name", KERNEL,
                    "--display-name", "Python 3 (Colab-like)"], check=True, capture_output=True)
    return python


def pip_list(python: Path) -> dict[str, str]:
    listing = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                             check=True, env=_clean_env()).stdout
    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(listing)}


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what points at the project's own .venv or checkout."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_FIND_LINKS", "XDG_CACHE_HOME", "JUPYTER_PATH",
               "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "HWUTILS_FIXTURES_DIR", "HWUTILS_REPORTS_DIR", "HWUTILS_HEADLESS",
               "HWUTILS_SOURCE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip configuration (local indexes) is not Colab's
    env.update(extra)
    return env


# -- the notebooks, as the student opens them --------------------------------------------------------


def prepare_notebook(name: str, folder: Path) -> Path:
    """A copy of ``notebooks/<name>.ipynb`` in ``folder`` with the generated set-up cell, and the
    parameters cell's ``OUTPUT_DIR`` as the README documents it (``""``: reports/<name> in the
    working folder; the lead's final pass over the notebooks writes both)."""
    copy = folder / f"{name}.ipynb"
    shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", copy)
    write_setup_cell(copy, ROOT)
    notebook = nbformat.read(copy, as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = re.sub(r'^OUTPUT_DIR = "[^"\n]*"', 'OUTPUT_DIR = ""', parameters.source, flags=re.M)
    nbformat.write(notebook, copy)
    return copy


def execute(python: Path, notebook: Path, workdir: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``notebook`` top to bottom in the Colab-like kernel, in ``workdir``, in the smoke profile."""
    executed = notebook.with_name(notebook.stem + ".executed.ipynb")
    start = time.perf_counter()
    done = subprocess.run([str(python), "-m", "papermill", str(notebook), str(executed), "-p", "PROFILE", "smoke",
                           "-k", KERNEL, "--cwd", str(workdir), "--start-timeout", "300", "--log-output"],
                          capture_output=True, text=True, env=env, timeout=NOTEBOOK_TIMEOUT_S)
    return done, time.perf_counter() - start


def setup_cell_text(executed: Path) -> tuple[str, float]:
    """What the set-up cell printed, and how long it took (papermill's timing)."""
    notebook = nbformat.read(executed, as_version=4)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and SETUP_TAG in c.metadata.get("tags", []))
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    return text, float(cell.metadata.get("papermill", {}).get("duration") or 0.0)


def reported_changes(text: str) -> dict[str, tuple[str | None, str]]:
    """The ``name: old -> new`` lines of the set-up cell's install report."""
    return {canonicalize_name(m.group(1)): (None if m.group(2) == "new" else m.group(2), m.group(3))
            for m in re.finditer(r"^\s+(\S+): (\S+) -> (\S+)$", text, re.M)}


def diff(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    names = sorted(set(before) | set(after))
    return {n: (before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)}


def declared_ranges() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}


def checkout_state() -> dict[str, float]:
    """Every file of the checkout's ``reports/`` and ``data/fixtures/`` with its modification time."""
    state = {}
    for folder in (ROOT / "reports", ROOT / "data" / "fixtures"):
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file():
                state[str(path.relative_to(ROOT))] = path.stat().st_mtime
    return state


def git_status() -> set[str]:
    done = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--ignored", "--untracked-files=all"],
                          capture_output=True, text=True, check=True)
    return set(done.stdout.splitlines())


# -- one Colab-like session, shared by the tests below -------------------------------------------------


@dataclass
class ColabSession:
    root: Path
    workdir: Path
    home: Path
    python: Path
    base: Path
    build_seconds: float
    before: dict[str, str]
    after: dict[str, dict[str, str]] = field(default_factory=dict)
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    setup_text: dict[str, str] = field(default_factory=dict)
    setup_seconds: dict[str, float] = field(default_factory=dict)
    results: dict[str, dict | None] = field(default_factory=dict)
    checkout_before: dict[str, float] = field(default_factory=dict)
    checkout_after: dict[str, float] = field(default_factory=dict)
    git_before: set[str] = field(default_factory=set)
    git_after: set[str] = field(default_factory=set)
    total_seconds: float = 0.0

    def changes(self, notebook: str) -> dict[str, tuple[str | None, str | None]]:
        return diff(self.before, self.after[notebook])


@pytest.fixture(scope="module")
def session() -> ColabSession:
    start = time.perf_counter()
    base, build_seconds = colab_base()
    root = CACHE / "last-run"  # outside the repository; kept for reading until the next run
    assert ROOT not in root.resolve().parents
    shutil.rmtree(root, ignore_errors=True)
    runtime = CACHE / "runtime"  # beside the base: hard links need the same file system
    python = fresh_runtime(base, runtime)
    workdir, home = root / "content", root / "home"  # Colab's working folder, and a home with no caches
    workdir.mkdir(parents=True)
    home.mkdir()
    state = ColabSession(root, workdir, home, python, base, build_seconds, pip_list(python))
    state.checkout_before, state.git_before = checkout_state(), git_status()
    in_tree_build = {ROOT / "build", ROOT / "hwutils.egg-info"}  # what pip's build of a local folder leaves in it
    already_there = {path for path in in_tree_build if path.exists()}
    env = _clean_env(HOME=str(home), PATH=f"{runtime / 'bin'}:{os.environ['PATH']}", HWUTILS_SOURCE=str(ROOT),
                     COLAB_RELEASE_TAG="hwutils-colab-test", PIP_CACHE_DIR=str(CACHE / "pip"), OMP_NUM_THREADS="1")
    for name in NOTEBOOKS:
        notebook = prepare_notebook(name, workdir)
        state.runs[name], state.seconds[name] = execute(python, notebook, workdir, env)
        executed = notebook.with_name(notebook.stem + ".executed.ipynb")
        if executed.exists():
            state.setup_text[name], state.setup_seconds[name] = setup_cell_text(executed)
        state.after[name] = pip_list(python)
        results = workdir / "reports" / name / "results.json"
        state.results[name] = json.loads(results.read_text()) if results.exists() else None
    state.checkout_after, state.git_after = checkout_state(), git_status()
    for leftover in in_tree_build - already_there:  # a stale build/lib would leak deleted modules into the next install
        shutil.rmtree(leftover, ignore_errors=True)
    state.total_seconds = time.perf_counter() - start
    write_summary(state, root / "summary.md")
    return state


def write_summary(state: ColabSession, path: Path) -> None:
    first = NOTEBOOKS[0]
    lines = [f"# Colab-like run ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"working folder `{state.workdir}`, environment `{state.base}` "
             f"(built in this run: {state.build_seconds:.0f} s), whole session {state.total_seconds:.0f} s", "",
             f"## Packages changed by the set-up cell of {first} ({len(state.changes(first))})", "",
             "| package | before | after |", "|---|---|---|"]
    lines += [f"| {n} | {old or '-'} | {new or '-'} |" for n, (old, new) in state.changes(first).items()]
    kept = ", ".join(f"{n} {state.before.get(n)} -> {state.after[NOTEBOOKS[-1]].get(n)}" for n in NEVER_REPLACED + KEPT_WITHIN_RANGE)
    lines += ["", f"{len(state.before)} packages before the set-up cell, {len(state.after[first])} after; {kept}"]
    later = diff(state.after[first], state.after[NOTEBOOKS[-1]])
    lines += ["", f"Changed by the later notebooks: {later or 'nothing'}", ""]
    for name in NOTEBOOKS:
        run, results = state.runs[name], state.results.get(name)
        headline = (results or {}).get("headline", {})
        lines += [f"## {name}", "", f"papermill exit {run.returncode}, {state.seconds[name]:.0f} s "
                  f"(set-up cell {state.setup_seconds.get(name, 0):.0f} s); headline "
                  f"{headline.get('method')}.{headline.get('metric')} = {headline.get('value')}", "",
                  "set-up cell printed:", "```", state.setup_text.get(name, "(no executed notebook)").rstrip(), "```", ""]
        if results:
            lines += ["| method | metrics |", "|---|---|"]
            lines += [f"| {m} | {json.dumps(r['metrics'])} |" for m, r in results["methods"].items()]
            failed = [k for k, c in results.get("checks", {}).items() if not c.get("passed")]
            lines += ["", f"checks: {len(results.get('checks', {}))}, failed: {failed or 'none'}", ""]
        if run.returncode:
            lines += ["papermill stderr (tail):", "```", run.stderr[-4000:], "```", ""]
    new_in_checkout = sorted({line[3:].split("/")[0] for line in state.git_after - state.git_before})
    lines += [f"New or changed in the checkout during the run: {new_in_checkout or 'nothing'} "
              "(build/ and hwutils.egg-info/ are pip's in-tree build of a local folder; removed afterwards)", ""]
    path.write_text("\n".join(lines))
    print(f"\nColab-like run summary: {path}")


# -- what a student depends on -----------------------------------------------------------------------


def test_the_environment_starts_with_colab_versions_not_the_lock(session):
    expected = _pins(COLAB_PACKAGES)
    assert {n: session.before.get(n) for n in expected} == expected
    lock = {canonicalize_name(k): v for k, v in (line.split("==") for line in (ROOT / "requirements.lock").read_text()
                                                 .splitlines() if "==" in line and not line.startswith("#"))}
    assert all(session.before[n] != lock[n] for n in ("torch", "torchvision", "transformers", "numpy", "pandas"))
    assert "hwutils" not in session.before


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_runs_outside_the_repository(session, name):
    run = session.runs[name]
    assert run.returncode == 0, f"{name} failed in the Colab-like runtime:\n{run.stderr[-3000:]}"
    results = session.results[name]
    assert results is not None, f"{name} wrote no {session.workdir}/reports/{name}/results.json"
    assert results["profile"] == "smoke" and results["methods"]
    assert results["headline"]["value"] is not None, f"{name} recorded no headline value"


def test_the_set_up_cell_installs_hwutils_and_opendelta(session):
    after = session.after[NOTEBOOKS[0]]
    assert "hwutils" in after and "opendelta" in after
    assert session.changes(NOTEBOOKS[0])["hwutils"] == (None, after["hwutils"])


@pytest.mark.parametrize("package", NEVER_REPLACED)
def test_torch_and_torchvision_are_not_replaced(session, package):
    for name in NOTEBOOKS:
        assert session.after[name][package] == session.before[package], \
            f"the set-up cell of {name} replaced {package} {session.before[package]} -> {session.after[name][package]}"
    # not even reinstalled at the same version: the files are still the ones the base environment holds
    module = {"torch": "torch", "torchvision": "torchvision"}[package]
    site = next(session.python.parent.parent.glob("lib/python3*/site-packages"))
    base_site = next(session.base.glob("lib/python3*/site-packages"))
    assert (site / module / "__init__.py").stat().st_ino == (base_site / module / "__init__.py").stat().st_ino


@pytest.mark.parametrize("package", KEPT_WITHIN_RANGE)
def test_numpy_and_pandas_are_kept_where_they_fall_in_the_ranges(session, package):
    declared = declared_ranges()[package]
    if not declared.specifier.contains(session.before[package]):
        pytest.skip(f"Colab's {package} {session.before[package]} is outside pyproject's {declared.specifier}")
    assert session.after[NOTEBOOKS[-1]][package] == session.before[package]


def test_colab_kernel_packages_are_not_upgraded(session):
    changed = {n: v for n, v in session.changes(NOTEBOOKS[-1]).items() if n in COLAB_KERNEL_PACKAGES}
    assert not changed, f"the set-up cell changed packages Colab's kernel runs on (Colab warns this can crash it): {changed}"


def test_the_set_up_cell_reports_exactly_what_changed(session):
    first = NOTEBOOKS[0]
    reported = reported_changes(session.setup_text[first])
    actual = {n: v for n, v in session.changes(first).items() if v[1] is not None}
    assert reported == actual, f"reported {reported}\nactual {actual}"
    removed = {n for n, (_, new) in session.changes(first).items() if new is None}
    assert not removed, f"the install removed packages: {removed}"


def test_the_set_up_cell_says_whether_a_restart_is_needed(session):
    text = session.setup_text[NOTEBOOKS[0]]
    assert ("no restart needed" in text) != ("RESTART the runtime" in text), text
    assert "no restart needed" in text, f"the install needs a restart in a fresh Colab-like runtime:\n{text}"
    assert "colab:" in text, "prepare_platform did not recognise Colab (COLAB_RELEASE_TAG)"


def test_the_set_up_cell_does_nothing_where_hwutils_is_installed(session):
    later = NOTEBOOKS[-1]
    assert diff(session.after[NOTEBOOKS[0]], session.after[later]) == {}
    assert "set-up:" not in session.setup_text[later] and "colab:" in session.setup_text[later]


def test_reports_land_in_the_working_folder_and_fixtures_in_the_cache_not_the_checkout(session):
    for name in NOTEBOOKS:
        assert (session.workdir / "reports" / name / "results.json").exists()
    fixtures = session.home / ".cache" / "hwutils" / "fixtures"
    assert fixtures.is_dir() and any(fixtures.iterdir()), f"no fixtures built under {fixtures}"
    assert session.checkout_after == session.checkout_before, "the run wrote into the checkout's reports/ or data/fixtures/"
    stray = [line for line in session.git_after - session.git_before
             if not re.match(r"\S+ (build|[^/]*\.egg-info)/", line)]  # pip's in-tree build of a local source
    assert not stray, f"the run left files in the checkout: {stray}"
