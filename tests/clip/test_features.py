"""The image-feature cache: computed once, reused, and rebuilt when the model, weights or preprocessing change."""

from __future__ import annotations

import dataclasses

import torch
from torchvision import transforms

from hwutils.clip.features import cached_image_features, encode_images
from hwutils.core.precision import choose_precision
from tests.clip.helpers import single_torch_thread, tiny_clip, tiny_image_dataset  # noqa: F401 (autouse fixture)

IDENTITY = {"dataset": "unit-test", "split": "test"}


def test_features_are_unit_norm_and_match_direct_encoding(tmp_path):
    clip = tiny_clip(tmp_path)
    dataset = tiny_image_dataset()
    features, stats = encode_images(clip, dataset, batch_size=4)
    assert features.shape == (len(dataset), clip.embed_dim)
    assert torch.allclose(features.norm(dim=-1), torch.ones(len(dataset)), atol=1e-5)
    assert stats.samples == len(dataset) and stats.steps == 3  # 9 images in batches of 4
    with torch.no_grad():
        direct = clip.model.encode_image(clip.preprocess(dataset[4]["image"].convert("RGB"))[None], normalize=True)
    assert torch.allclose(features[4], direct[0], atol=1e-5)


def test_cache_is_reused_and_rebuilt_when_the_model_changes(tmp_path, capsys):
    dataset = tiny_image_dataset()
    clip_a = tiny_clip(tmp_path / "models", seed=0)
    cache = tmp_path / "features" / "test.pt"

    first = cached_image_features(clip_a, dataset, cache, identity=IDENTITY, batch_size=4)
    assert not first.reused and cache.exists()
    assert torch.equal(first.labels, torch.tensor(dataset["label"]))

    written = cache.stat().st_mtime_ns
    again = cached_image_features(clip_a, dataset, cache, identity=IDENTITY, batch_size=4)
    assert again.reused and torch.equal(again.features, first.features)
    assert cache.stat().st_mtime_ns == written  # read, not rewritten
    assert again.stats.samples == first.stats.samples  # the cost measured when it was built

    # same architecture and name, other weights: the digest differs, so the cache is stale
    clip_b = tiny_clip(tmp_path / "models", seed=1)
    other = cached_image_features(clip_b, dataset, cache, identity=IDENTITY, batch_size=4)
    assert not other.reused and "weights" in other.stale_keys and "pretrained" in other.stale_keys
    assert not torch.allclose(other.features, first.features)
    assert "was built with a different" in capsys.readouterr().out
    assert cached_image_features(clip_b, dataset, cache, identity=IDENTITY, batch_size=4).reused  # now b's cache

    # back to model a: rebuilt again, and identical to a's first features
    back = cached_image_features(clip_a, dataset, cache, identity=IDENTITY, batch_size=4)
    assert not back.reused and torch.allclose(back.features, first.features, atol=1e-6)


def test_cache_is_rebuilt_when_preprocessing_or_data_change(tmp_path):
    dataset = tiny_image_dataset()
    clip = tiny_clip(tmp_path / "models")
    cache = tmp_path / "test.pt"
    cached_image_features(clip, dataset, cache, identity=IDENTITY)

    resized = dataclasses.replace(clip, preprocess=transforms.Compose([transforms.Resize(24), clip.preprocess]))
    rebuilt = cached_image_features(resized, dataset, cache, identity=IDENTITY)
    assert not rebuilt.reused and rebuilt.stale_keys == ["preprocess"]

    cached_image_features(clip, dataset, cache, identity=IDENTITY)
    other_split = cached_image_features(clip, dataset, cache, identity={**IDENTITY, "split": "train"})
    assert not other_split.reused and other_split.stale_keys == ["split"]

    fewer = cached_image_features(clip, dataset.select(range(6)), cache, identity={**IDENTITY, "split": "train"})
    assert not fewer.reused and set(fewer.stale_keys) == {"examples", "labels"}


def test_cache_is_rebuilt_when_the_precision_changes_and_bfloat16_stays_close(tmp_path):
    dataset = tiny_image_dataset()
    clip = tiny_clip(tmp_path / "models")
    cache = tmp_path / "test.pt"
    full = cached_image_features(clip, dataset, cache, identity=IDENTITY)  # float32 when no precision is given
    half = cached_image_features(clip, dataset, cache, identity=IDENTITY, precision=choose_precision("cpu", "bfloat16"))
    assert not half.reused and half.stale_keys == ["precision"]
    assert half.features.dtype == torch.float32 and torch.allclose(half.features.norm(dim=-1), torch.ones(len(dataset)), atol=1e-5)
    assert not torch.equal(half.features, full.features)  # the encoder really ran under bfloat16 autocast
    assert torch.nn.functional.cosine_similarity(half.features, full.features).min() > 0.95


def test_run_features_caches_per_model_and_split_with_the_run_settings(tmp_path):
    from hwutils.clip.features import run_features
    from hwutils.core.run import start_run

    run = start_run("05_clip_dogs", "smoke", 0, tmp_path / "run", {"eval_batch_size": 4, "train_examples": 8})
    dataset = tiny_image_dataset()
    first = run_features(tiny_clip(tmp_path / "models"), dataset, "train", "tiny", run)
    assert first.path == run.output_dir / "features" / "tiny-train.pt" and not first.reused
    assert first.stats.steps == 3  # 9 images in batches of eval_batch_size = 4
    saved = torch.load(first.path, weights_only=True)["fingerprint"]
    assert saved["subset"] == "8 examples (seed 0)" and saved["precision"] == "float32" and saved["split"] == "train"
    assert run_features(tiny_clip(tmp_path / "models"), dataset, "train", "tiny", run).reused
