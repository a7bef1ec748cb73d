from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from hwutils.core import fixtures
from hwutils.core.errors import ConfigError


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_all_fixtures_build_deterministically(tmp_path):
    """Every fixture built again in an empty folder is byte-identical to the copy in the shared
    cache (the one the notebooks read, built on first use; fixtures are seeded and built on one
    thread). One fresh build, not two: the cache's build is the one the smoke runs need anyway."""
    cached = fixtures.build_all()  # builds only what is missing or stale; its time is a budget (`make budgets`)
    for name in fixtures.registry():
        assert digest(fixtures.fixture_path(name, tmp_path)) == digest(fixtures.fixture_path(name)), \
            f"fixture {name} is not deterministic"
    assert set(cached) == set(fixtures.registry())


def test_fixture_is_cached_and_rebuilt_when_its_version_changes(tmp_path, monkeypatch):
    calls = []

    @fixtures.fixture("_test_counter", version=1)
    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "data.txt").write_text("x")

    try:
        first = fixtures.fixture_path("_test_counter", tmp_path)
        fixtures.fixture_path("_test_counter", tmp_path)
        assert len(calls) == 1 and (first / "data.txt").read_text() == "x"
        fixtures.fixture("_test_counter", version=2)(build)
        fixtures.fixture_path("_test_counter", tmp_path)
        assert len(calls) == 2
        monkeypatch.setattr(fixtures, "code_digest", lambda spec: "the builder's code changed")
        fixtures.fixture_path("_test_counter", tmp_path)
        assert len(calls) == 3, "a change to the code that builds a fixture rebuilds it"
    finally:
        fixtures._REGISTRY.pop("_test_counter")


def test_unknown_fixture_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown fixture 'nope'; valid fixtures: .*dialogue_corpus"):
        fixtures.fixture_path("nope", tmp_path)


def test_rebuilt_dataset_fixture_is_not_read_from_a_stale_cache(tmp_path):
    import datasets

    from hwutils.core.data import load_split

    folder = tmp_path / "splits"
    for n in (10, 20):  # the same folder rewritten with other content, as after a version bump
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        fixtures.write_dataset_splits(folder, {"train": datasets.Dataset.from_dict({"x": list(range(n))})})
        assert len(load_split(str(folder), "train")) == n
