"""Image classification with vision transformers: transforms, batching, prediction on a new image.

The model's own image processor (``AutoImageProcessor``) says how its pre-training saw images:
the input size and the per-channel mean and standard deviation used to normalise them. The
transforms here are built from those values, so a new checkpoint brings its own preprocessing:

* training: a random resized crop and a horizontal flip (fresh on every epoch), then normalise;
* evaluation: resize the shorter side, crop the centre, normalise: deterministic.

``datasets`` applies them on the fly (``Dataset.set_transform``): images are decoded and
augmented when a batch is drawn, never stored as tensors.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from hwutils.core.errors import ConfigError, DataError

ImageSize = int | tuple[int, int]


# ---------------------------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------------------------


def processor_size(processor: Any) -> ImageSize:
    """The input size an image processor produces: ``int`` for a square, else ``(height, width)``."""
    size = processor.size if isinstance(processor.size, dict) else {"shortest_edge": processor.size}
    if "height" in size and "width" in size:
        height, width = int(size["height"]), int(size["width"])
        return height if height == width else (height, width)
    if "shortest_edge" in size:
        crop = getattr(processor, "crop_size", None)  # processors that resize, then crop
        if isinstance(crop, dict) and "height" in crop:
            return int(crop["height"]) if crop["height"] == crop["width"] else (int(crop["height"]), int(crop["width"]))
        return int(size["shortest_edge"])
    raise ConfigError(f"cannot read an input size from the image processor's size {processor.size!r}")


def to_rgb(image: Image.Image) -> Image.Image:
    """Greyscale, palette and RGBA images as 3-channel RGB (a few Food101 photos are greyscale)."""
    return image if image.mode == "RGB" else image.convert("RGB")


@dataclass(frozen=True)
class ImageTransforms:
    """``train`` and ``eval`` map a PIL image to a normalised ``(3, height, width)`` float tensor."""

    train: Callable[[Image.Image], torch.Tensor]
    eval: Callable[[Image.Image], torch.Tensor]
    size: ImageSize
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_picture(self, tensor: torch.Tensor) -> np.ndarray:
        """Undo the normalisation of a transformed image: a ``(height, width, 3)`` array in [0, 1], for display."""
        mean, std = torch.tensor(self.mean)[:, None, None], torch.tensor(self.std)[:, None, None]
        return (tensor * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def image_transforms(processor: Any, crop_scale: Sequence[float] = (0.08, 1.0)) -> ImageTransforms:
    """Training augmentation and deterministic evaluation transforms from ``processor``'s size,
    mean and std. ``crop_scale``: the range of the area share kept by the random resized crop."""
    from torchvision import transforms as T

    size = processor_size(processor)
    mean, std = tuple(processor.image_mean), tuple(processor.image_std)
    normalise = [T.ToTensor(), T.Normalize(mean=mean, std=std)]  # ToTensor scales 0..255 to 0..1
    train = T.Compose([to_rgb, T.RandomResizedCrop(size, scale=tuple(crop_scale)), T.RandomHorizontalFlip(), *normalise])
    evaluate = T.Compose([to_rgb, T.Resize(size), T.CenterCrop(size), *normalise])
    return ImageTransforms(train=train, eval=evaluate, size=size, mean=mean, std=std)


@dataclass(frozen=True)
class BatchTransform:
    """For ``Dataset.set_transform``: a batch of rows in, ``pixel_values`` (and the labels) out.

    A small class rather than a closure, so that ``DataLoader`` worker processes can pickle it
    (``dataloader_num_workers > 0`` on systems that spawn workers, such as macOS and Windows).
    """

    transform: Callable[[Image.Image], torch.Tensor]
    image_column: str = "image"
    label_column: str = "label"

    def __call__(self, batch: dict) -> dict:
        out = {"pixel_values": [self.transform(image) for image in batch[self.image_column]]}
        if self.label_column in batch:
            out[self.label_column] = batch[self.label_column]
        return out


def collate_images(examples: Sequence[dict], label_column: str = "label") -> dict[str, torch.Tensor]:
    """Stack transformed examples into the batch a ``*ForImageClassification`` model takes."""
    return {
        "pixel_values": torch.stack([example["pixel_values"] for example in examples]),
        "labels": torch.tensor([example[label_column] for example in examples]),
    }


# ---------------------------------------------------------------------------------------------
# Prediction on a new image
# ---------------------------------------------------------------------------------------------


def load_image(image_or_path_or_url: Image.Image | str | Path, timeout: float = 30.0) -> Image.Image:
    """A PIL image (RGB) from an image, a local file or an ``http(s)`` URL; ``DataError`` if unreadable."""
    source = image_or_path_or_url
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if not isinstance(source, (str, Path)):
        raise DataError(f"expected a PIL image, a path or a URL, got {type(source).__name__}")
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        import requests

        try:
            response = requests.get(source, timeout=timeout)
            response.raise_for_status()
        except requests.RequestException as error:
            raise DataError(f"could not download the image {source!r}: {error}") from None
        return _open_image(io.BytesIO(response.content), source)
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"image path {str(path)!r} does not exist or is not a file")
    return _open_image(path, str(path))


def _open_image(file: Any, name: str) -> Image.Image:
    try:
        with Image.open(file) as image:
            image.load()  # decode now: a truncated or fake file fails here, not later
            return to_rgb(image)
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{name!r} is not an image file that PIL can read ({error})") from None


@torch.no_grad()
def predict(image_or_path_or_url: Image.Image | str | Path, model: torch.nn.Module,
            transform: Callable[[Image.Image], torch.Tensor], top_k: int = 5) -> list[dict[str, Any]]:
    """The ``top_k`` classes of one image, most probable first: ``[{"label", "probability"}, ...]``.

    ``transform`` is the evaluation transform; label names come from ``model.config.id2label``.
    The probabilities are a softmax over all classes, so the ``top_k`` of them sum to at most 1.
    """
    image = load_image(image_or_path_or_url)
    device = next(model.parameters()).device
    model.eval()
    logits = model(pixel_values=transform(image).unsqueeze(0).to(device)).logits[0]
    probabilities = logits.float().softmax(dim=-1)
    top = probabilities.topk(min(top_k, probabilities.numel()))
    id2label = model.config.id2label
    return [{"label": id2label[int(index)], "probability": float(p)} for p, index in zip(top.values, top.indices)]


def plot_prediction(image: Image.Image, prediction: Sequence[dict[str, Any]], true_label: str) -> None:
    """The image beside a bar chart of its top-k classes (the output of :func:`predict`)."""
    import matplotlib.pyplot as plt

    fig, (image_ax, bar_ax) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [1, 1.4]})
    image_ax.imshow(image)
    image_ax.set_title(f"new image (true class: {true_label})", fontsize=9)
    image_ax.axis("off")
    bar_ax.barh([p["label"] for p in prediction][::-1], [p["probability"] for p in prediction][::-1], color="C0")
    bar_ax.set(xlabel="probability", xlim=(0, 1), title=f"top-{len(prediction)} classes")
    fig.tight_layout()
