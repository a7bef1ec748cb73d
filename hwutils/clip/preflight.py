"""Notebook 05 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

The two open_clip models are built from open_clip's own configs on the meta device (offline, no
weights). What runs on the GPU: encoding every image once per model and split (inference, float32
weights under the run's autocast), and CoOp, whose gradient flows through the frozen text encoder
of the Base model for all 120 breeds at each step. The class embeddings and the linear probe train
on cached feature vectors (a few MB): they are not listed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hwutils.clip.coop import CoOpClassifier
from hwutils.clip.models import ClipModel, register_model_configs
from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings

BREEDS = 120
PLACEHOLDER_BREED = "Irish wolfhound"  # the prompts' length is CLIP's fixed context: the names do not change the cost


def _model_on_meta(name: str):
    import open_clip

    with torch.device("meta"):
        return open_clip.create_model(name, pretrained=None, device="meta")


def _clip_on_meta(settings: Settings, name: str) -> ClipModel:
    import open_clip

    register_model_configs(settings.model_configs)
    return ClipModel(name, "", _model_on_meta(name), None, open_clip.get_tokenizer(name), torch.device("meta"))


def _images(model, batch_size: int) -> torch.Tensor:
    size = model.visual.image_size
    height, width = size if isinstance(size, (tuple, list)) else (size, size)
    return torch.zeros(batch_size, 3, height, width, device="meta")


def _encoding(settings: Settings, tag: str, name: str, images: int) -> Workload:
    return Workload(f"encode_images_{tag}", lambda: _model_on_meta(name),
                    lambda: _images(_model_on_meta(name), settings.eval_batch_size),
                    loss=lambda model, batch: model.encode_image(batch).float().mean(), training=False,
                    forward_passes=-(-images // settings.eval_batch_size), remedy="eval_batch_size=32")


def _coop(settings: Settings) -> Workload:
    def build() -> CoOpClassifier:
        register_model_configs(settings.model_configs)
        return CoOpClassifier(_clip_on_meta(settings, settings.base_model), [PLACEHOLDER_BREED] * BREEDS,
                              settings.prompt_tokens, settings.coop_init)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        dim = _model_on_meta(settings.base_model).text_projection.shape[-1]
        with torch.device("meta"):
            return torch.zeros(settings.coop_batch_size, dim), torch.zeros(settings.coop_batch_size, dtype=torch.long)

    return Workload("coop_context", build, batch, loss=lambda model, b: F.cross_entropy(model(b[0]), b[1]),
                    autocast=False, steps=settings.coop_steps, remedy="coop_batch_size=64")


def workloads(settings: Settings) -> list[Workload]:
    """Encoding train and test with Base, CoOp on Base, encoding test with XXLarge."""
    train = settings.train_examples or settings.expected_train_size
    test = settings.test_examples or settings.expected_test_size
    return [_encoding(settings, "base", settings.base_model, train + test), _coop(settings),
            _encoding(settings, "xxlarge", settings.large_model, test)]


def disk(settings: Settings) -> dict[str, float]:
    """Both checkpoints (float32), Stanford Dogs (about 0.8 GB of JPEGs in parquet), the cached features."""
    weights = sum(p.numel() for name in (settings.base_model, settings.large_model) for p in _model_on_meta(name).parameters())
    images = (settings.train_examples or settings.expected_train_size) + 2 * (settings.test_examples or settings.expected_test_size)
    return {"model download": weights * 4, "dataset download": 0.8e9, "outputs": images * 1024 * 4}
