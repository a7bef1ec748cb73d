"""Tiny open_clip models and image datasets for the CLIP unit tests (random weights, built in well under a second)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hwutils.clip.models import ClipModel, load_clip
from hwutils.clip.fixtures import TinyClipSpec, save_open_clip_weights

@pytest.fixture(autouse=True)
def single_torch_thread():
    """These tensors are tiny: on a busy 2-core machine, synchronising two threads costs far more than the work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SPEC = TinyClipSpec("unit_test_tiny_clip", trunk="test_convnext", image_size=32, width=32, layers=1, heads=2, steps=0)


def tiny_clip(folder: Path, seed: int = 0, spec: TinyClipSpec = SPEC) -> ClipModel:
    """A randomly initialised tiny open_clip model, saved and loaded through :func:`load_clip` like a real checkpoint."""
    import open_clip

    configs = folder / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    (configs / f"{spec.name}.json").write_text(json.dumps(spec.open_clip_config()))
    open_clip.add_model_config(configs)
    torch.manual_seed(seed)
    weights = folder / f"{spec.name}-seed{seed}.safetensors"
    if not weights.exists():
        save_open_clip_weights(open_clip.create_model(spec.name), weights)
    return load_clip(spec.name, str(weights), "cpu", str(configs))


def tiny_image_dataset(n_per_class: int = 3, n_classes: int = 3, seed: int = 0):
    """A ``datasets.Dataset`` with ``image`` (PIL) and ``label`` (ClassLabel) columns, drawn like the fixtures."""
    import datasets
    import numpy as np

    from hwutils.core.fixtures.synthetic_images import draw_example

    rng = np.random.default_rng(seed)
    labels = [c for c in range(n_classes) for _ in range(n_per_class)]
    features = datasets.Features({"image": datasets.Image(),
                                  "label": datasets.ClassLabel(names=[f"n0000000{c}-breed_{c}" for c in range(n_classes)])})
    return datasets.Dataset.from_dict({"image": [draw_example(c, n_classes, 32, rng) for c in labels], "label": labels},
                                      features=features)
