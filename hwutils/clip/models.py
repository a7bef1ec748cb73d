"""Loading an open_clip model with its own preprocessing and tokenizer, for a Hub tag or a local file.

``open_clip.create_model_and_transforms(name, pretrained=...)`` takes a model name whose
architecture config open_clip knows (its built-in ``model_configs/`` plus any folder registered
with ``open_clip.add_model_config``) and either a pretrained *tag* (downloaded from the Hub, e.g.
``laion400m_s13b_b51k``) or the path of a checkpoint file. The smoke profile registers the tiny
fixture configs and passes local safetensors files; the full profile passes the real tags.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwutils.core.errors import AccessError, ConfigError
from hwutils.core.models import count_parameters


@dataclass
class ClipModel:
    """An open_clip model with the preprocessing and tokenizer it was trained with."""

    name: str
    pretrained: str
    model: nn.Module
    preprocess: Callable  # PIL image -> normalised tensor (open_clip's validation transform)
    tokenizer: Callable  # list of strings -> token ids (batch x context length)
    device: torch.device

    @property
    def logit_scale(self) -> float:
        """CLIP's learned temperature, ``exp(logit_scale)`` (100 for the released models)."""
        return float(self.model.logit_scale.detach().exp())

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[-1]) if hasattr(self.model, "text_projection") else \
            int(self.encode_text(["x"]).shape[-1])

    @torch.no_grad()
    def encode_text(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """L2-normalised text embeddings of ``texts`` (on the CPU, float32)."""
        self.model.eval()
        chunks = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(texts[start:start + batch_size]).to(self.device)
            chunks.append(self.model.encode_text(tokens, normalize=True).float().cpu())
        return torch.cat(chunks)

    def parameter_counts(self) -> dict[str, int]:
        """Parameters of the image encoder, the text encoder (everything else but the logit scale) and both."""
        total = count_parameters(self.model).total
        image = count_parameters(self.model.visual).total
        scalars = sum(p.numel() for n, p in self.model.named_parameters() if n.startswith("logit_"))
        return {"image_encoder": image, "text_encoder": total - image - scalars, "total": total}


def register_model_configs(folder: str) -> None:
    """Make open_clip aware of the model configs (``<name>.json``) in ``folder``; ``""`` does nothing."""
    if not folder:
        return
    import open_clip

    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"model config folder {folder!r} does not exist")
    open_clip.add_model_config(path)


def load_clip(name: str, pretrained: str, device: torch.device | str = "cpu", config_dir: str = "") -> ClipModel:
    """``open_clip.create_model_and_transforms(name, pretrained=pretrained)`` plus the matching tokenizer.

    ``pretrained`` is a tag (``laion400m_s13b_b51k``, fetched from the Hub) or a checkpoint file;
    ``config_dir`` holds extra model configs to register first (the smoke profile's tiny models).
    Failures become one-line errors that say what to change.
    """
    import open_clip

    register_model_configs(config_dir)
    if name not in open_clip.list_models():
        raise ConfigError(f"open_clip has no model config {name!r}; e.g. {', '.join(open_clip.list_models()[:5])}, ... "
                          "(a folder of extra configs goes in the `model_configs` setting)")
    tags = open_clip.list_pretrained_tags_by_model(name)
    if not Path(pretrained).is_file() and pretrained not in tags:
        raise ConfigError(f"pretrained {pretrained!r} is neither a file nor a tag of {name}; its tags: {', '.join(tags) or 'none'}")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    except RuntimeError as error:
        if "download" in str(error).lower():
            raise AccessError(f"the weights {name}/{pretrained} could not be fetched from the Hub: this machine is offline "
                              "or the Hub is unreachable; use PROFILE='smoke' or give a local checkpoint file as `pretrained`") from None
        raise
    model.eval()
    return ClipModel(name, pretrained, model, preprocess, open_clip.get_tokenizer(name), torch.device(device))


def weights_digest(model: nn.Module) -> str:
    """A short fingerprint of a model's weights (name, shape and rounded sum of every tensor).

    Two checkpoints of the same architecture get different digests; the same weights on another
    device get the same one (sums are rounded to 6 significant digits).
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            total = float(tensor.detach().double().sum()) if tensor.is_floating_point() else int(tensor.sum())
            digest.update(f"{name}:{tuple(tensor.shape)}:{total:.6g};".encode())
    return digest.hexdigest()[:16]


def describe(clip: ClipModel) -> dict[str, Any]:
    """What identifies a model for caching: name, pretrained source, weights digest, preprocessing."""
    return {"model": clip.name, "pretrained": clip.pretrained, "weights": weights_digest(clip.model),
            "preprocess": repr(clip.preprocess)}


def release_memory() -> None:
    """Give memory back after ``del`` of a model: collect Python garbage and empty CUDA's cache, so that
    the next model's peak memory is its own."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
