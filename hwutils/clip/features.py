"""Image features computed once per model and split, saved beside the results, and reused.

Every experiment after zero-shot (templates, per-class analysis, prompt search, class embeddings,
linear probe, few-shot curves) needs only the *image features*: the image encoder's output for
each image, L2-normalised. Computing them is the one expensive step (a forward pass of the image
encoder over every image), so it runs once and is saved to ``<output_dir>/features/``.

A cache file carries a fingerprint: the model name, its pretrained source, a digest of its
weights, the preprocessing (resize, crop, normalisation), the precision the encoder ran in, the
dataset, the split and its labels.
On a rerun the file is reused only if the fingerprint matches; a cache written by another model
or preprocessing (say, after changing a setting) is reported and rebuilt, never silently used.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hwutils.clip.models import ClipModel, describe
from hwutils.core.precision import Precision, choose_precision
from hwutils.core.progress import progress
from hwutils.core.run import Run
from hwutils.core.training import Meter, RunStats


@dataclass
class FeatureSet:
    """L2-normalised image features (N x D, float32, CPU) with their labels and where they came from."""

    features: torch.Tensor
    labels: torch.Tensor
    path: Path
    reused: bool  # read from the cache file, which was left untouched
    stats: RunStats  # what computing them cost (measured when the cache was built)
    stale_keys: list[str] = field(default_factory=list)  # why an existing cache was rebuilt
    seconds: float = 0.0  # what getting them took in this call: reading the cache, or encoding

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, labels)`` of the rows ``indices``."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return self.features[indices], self.labels[indices]


class ImageColumn(torch.utils.data.Dataset):
    """The images of a Hugging Face dataset, preprocessed by ``transform`` (RGB first: some photos are greyscale or CMYK)."""

    def __init__(self, dataset, image_column: str, transform):
        self.dataset, self.image_column, self.transform = dataset, image_column, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.dataset[index][self.image_column].convert("RGB"))


@torch.no_grad()
def encode_images(clip: ClipModel, dataset, image_column: str = "image", batch_size: int = 64, dataloader_workers: int = 0,
                  precision: Precision | None = None, desc: str = "encoding images") -> tuple[torch.Tensor, RunStats]:
    """Image features of every row of ``dataset`` (L2-normalised, float32 on the CPU) and what it cost.

    Batched through a ``DataLoader`` (``dataloader_workers`` processes decode and resize images while
    the model runs), with a progress bar; the encoder runs under ``precision.autocast()`` (the run's
    precision: bfloat16 or float16 on a GPU, float32 when ``precision`` is not given).
    """
    precision = precision or choose_precision(clip.device, "float32")
    loader = torch.utils.data.DataLoader(ImageColumn(dataset, image_column, clip.preprocess), batch_size=batch_size,
                                         shuffle=False, num_workers=dataloader_workers)
    clip.model.eval()
    chunks = []
    with Meter(clip.device) as meter:
        for images in progress(loader, desc=desc, total=len(loader)):
            with precision.autocast():
                features = clip.model.encode_image(images.to(clip.device))
            chunks.append(F.normalize(features.float(), dim=-1).cpu())
            meter.count(samples=len(images), steps=1)
    return torch.cat(chunks), meter.stats


def column_values(dataset, column: str) -> list:
    """All values of one column as a list, fast: ``dataset[column]`` is a lazy ``Column`` in datasets 5,
    and converting it element by element takes tens of seconds for a split of 12,000 rows."""
    return dataset.select_columns([column])[:][column]


def feature_fingerprint(clip: ClipModel, labels: torch.Tensor, identity: Mapping[str, Any],
                        precision: str = "float32") -> dict[str, Any]:
    """Everything a cached feature file depends on (see the module docstring)."""
    labels_digest = hashlib.sha256(labels.numpy().tobytes()).hexdigest()[:16]
    return {**describe(clip), "precision": precision, **{k: str(v) for k, v in identity.items()}, "examples": len(labels),
            "labels": labels_digest}


def cached_image_features(clip: ClipModel, dataset, cache_path: str | Path, *, identity: Mapping[str, Any],
                          image_column: str = "image", label_column: str = "label", batch_size: int = 64,
                          dataloader_workers: int = 0, precision: Precision | None = None,
                          desc: str = "encoding images") -> FeatureSet:
    """Image features of ``dataset`` from ``cache_path`` if it was built by the same model, preprocessing,
    precision and data (``identity``: e.g. the dataset source and split); otherwise computed and saved there."""
    start = time.perf_counter()
    cache_path = Path(cache_path)
    precision = precision or choose_precision(clip.device, "float32")
    labels = torch.as_tensor(column_values(dataset, label_column), dtype=torch.long)
    fingerprint = feature_fingerprint(clip, labels, identity, precision.name)
    stale_keys: list[str] = []
    if cache_path.exists():
        cached = torch.load(cache_path, map_location="cpu", weights_only=True)
        if cached.get("fingerprint") == fingerprint:
            return FeatureSet(cached["features"], cached["labels"], cache_path, True, RunStats(**cached["stats"]),
                              seconds=time.perf_counter() - start)
        old = cached.get("fingerprint", {})
        stale_keys = sorted(k for k in fingerprint.keys() | old.keys() if fingerprint.get(k) != old.get(k))
        print(f"note: {cache_path.name} was built with a different {', '.join(stale_keys)}; computing the features again")
    features, stats = encode_images(clip, dataset, image_column, batch_size, dataloader_workers, precision, desc)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp")
    torch.save({"fingerprint": fingerprint, "features": features, "labels": labels, "stats": asdict(stats)}, tmp)
    os.replace(tmp, cache_path)  # atomic: an interrupted run never leaves half a cache
    return FeatureSet(features, labels, cache_path, False, stats, stale_keys, seconds=time.perf_counter() - start)


def run_features(clip: ClipModel, dataset, split: str, tag: str, run: Run) -> FeatureSet:
    """:func:`cached_image_features` of one split with the run's settings, cached as
    ``OUTPUT_DIR/features/<tag>-<split>.pt``; the identity names the dataset, the split and its subset."""
    settings = run.settings
    examples = settings[f"{split}_examples"]
    subset = f"{examples} examples (seed {run.seed})" if examples else "all"
    return cached_image_features(
        clip, dataset, run.output_dir / "features" / f"{tag}-{split}.pt",
        identity={"dataset": settings.dataset, "split": split, "subset": subset}, image_column=settings.image_column,
        label_column=settings.label_column, batch_size=settings.eval_batch_size, dataloader_workers=settings.dataloader_workers,
        precision=run.precision, desc=f"{tag} {split} images")


def cache_summary(name: str, feature_set: FeatureSet) -> dict[str, Any]:
    """One row for the notebook's cache table and ``results.json``."""
    return {"features": name, "examples": len(feature_set), "dim": int(feature_set.features.shape[1]),
            "reused": feature_set.reused, "rebuilt_because": ", ".join(feature_set.stale_keys),
            "encode_s": feature_set.stats.wall_time_s, "images_per_s": feature_set.stats.samples_per_s,
            "peak_memory_mb": feature_set.stats.peak_memory_mb, "seconds_this_run": feature_set.seconds,
            "file": feature_set.path.name}

