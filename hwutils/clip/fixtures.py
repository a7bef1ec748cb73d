"""Offline stand-ins for notebook 05: a Stanford-Dogs-like image set and two tiny open_clip models.

* ``stanford_dogs_mini``: eight "breeds" in ``imagefolder`` layout (``train``: 40, ``test``: 20
  images per class), drawn by :func:`hwutils.core.fixtures.synthetic_images.write_imagefolder` (one
  colour and shape per class). Folder names are real Stanford Dogs class names, such as
  ``n02085620-Chihuahua``, so the notebook's name cleaning has something to clean.
* ``tiny_convnext_clip``: two open_clip model configs in ``configs/`` (registered by the notebook
  with ``open_clip.add_model_config``) and their weights as ``<name>.safetensors``, so that
  ``open_clip.create_model_and_transforms(name, pretrained=<file>)`` and
  ``open_clip.get_tokenizer(name)`` run exactly as for ``convnext_base`` / ``convnext_xxlarge``.
  Both use a timm ConvNeXt trunk (timm's ``test_convnext`` / ``test_convnext2``: the same
  architecture as the real towers, a few hundred thousand parameters) and open_clip's text
  transformer with the real CLIP tokenizer (offline: its BPE vocabulary ships with open_clip).

Zero-shot classification needs a text tower that has seen the class names next to matching
images, so the builder runs a brief contrastive pre-training on freshly drawn images (never the
fixture's own train/test images) paired with captions such as "a photo of a beagle." (through the
shared loop, :func:`hwutils.core.fixtures.pretraining.pretrain`). To fit the
fixture budget, the ConvNeXt trunk and the 49,408-row token embedding keep their random
initialisation (random convolutional features already separate colours and shapes); the image
projection, the text transformer and the logit scale are trained. Captions use a handful of
templates only, so the notebook's other templates are genuinely unseen phrasings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwutils.core.fixtures import fixture
from hwutils.core.fixtures.pretraining import pretrain
from hwutils.core.fixtures.synthetic_images import draw_example, write_imagefolder

# Real Stanford Dogs folder names (WordNet id + breed), in the dataset's label order.
DOG_BREED_FOLDERS = (
    "n02085620-Chihuahua",
    "n02085936-Maltese_dog",
    "n02088364-beagle",
    "n02099601-golden_retriever",
    "n02099712-Labrador_retriever",
    "n02106662-German_shepherd",
    "n02110185-Siberian_husky",
    "n02110958-pug",
)
PRETRAIN_LR = 5e-3
IMAGE_SIZE = 32  # pixels of the drawn images; each model's own preprocessing resizes them
PER_CLASS = {"train": 40, "test": 20}

# Captions seen in pre-training. The notebook also tries templates that are not in this list.
PRETRAINING_TEMPLATES = (
    "a photo of a {}.",
    "a photo of a {}, a type of dog.",
    "a {}.",
    "a picture of a {}.",
    "a {} dog.",
    "my {}.",
    "a photo of my {}.",
    "a {} in the park.",
    "the {} is sleeping.",
    "look at this {}!",
    "a good photo of a {}.",
    "this is a {}.",
    "a bright photo of the {}.",
    "a {} on the grass.",
    "a cute {}.",
    "the {}.",
)


@dataclass(frozen=True)
class TinyClipSpec:
    """A tiny open_clip model: a timm ConvNeXt trunk and a small text transformer."""

    name: str
    trunk: str  # a timm model name
    image_size: int
    width: int  # text width = joint embedding size
    layers: int
    heads: int
    steps: int  # contrastive pre-training steps in the fixture build
    context_length: int = 16

    def open_clip_config(self) -> dict:
        """The model config in open_clip's JSON format (compare open_clip's ``convnext_base.json``)."""
        return {
            "embed_dim": self.width,
            "vision_cfg": {"timm_model_name": self.trunk, "timm_model_pretrained": False, "timm_pool": "",
                           "timm_proj": "linear", "timm_drop": 0.0, "timm_drop_path": 0.0, "image_size": self.image_size},
            "text_cfg": {"context_length": self.context_length, "vocab_size": 49408, "width": self.width,
                         "heads": self.heads, "layers": self.layers},
        }


TINY_CLIP_MODELS = (
    TinyClipSpec("tiny_convnext_clip_base", trunk="test_convnext", image_size=32, width=64, layers=2, heads=2, steps=80),
    TinyClipSpec("tiny_convnext_clip_xxlarge", trunk="test_convnext2", image_size=40, width=96, layers=3, heads=2, steps=120),
)


@fixture("stanford_dogs_mini", version=1)
def build_stanford_dogs_mini(folder: Path) -> None:
    """Stanford-Dogs-shaped images (8 breeds, 40 train / 20 test each) in imagefolder layout."""
    write_imagefolder(folder, DOG_BREED_FOLDERS, PER_CLASS, size=IMAGE_SIZE, seed=0)


@fixture("tiny_convnext_clip", version=2)
def build_tiny_convnext_clip(folder: Path) -> None:
    """Two tiny open_clip ConvNeXt CLIP models (configs + safetensors), briefly pre-trained on dog captions."""
    import open_clip

    (folder / "configs").mkdir()
    for spec in TINY_CLIP_MODELS:
        (folder / "configs" / f"{spec.name}.json").write_text(json.dumps(spec.open_clip_config(), indent=2))
    open_clip.add_model_config(folder / "configs")
    for index, spec in enumerate(TINY_CLIP_MODELS):
        model = pretrain_tiny_clip(spec, seed=index)
        save_open_clip_weights(model, folder / f"{spec.name}.safetensors")


def pretrain_tiny_clip(spec: TinyClipSpec, seed: int = 0, images_per_class: int = 48, batch_size: int = 128):
    """Create ``spec`` through open_clip and align it on drawn images and captions (symmetric
    contrastive loss; images of the same class count as positives for each other's captions)."""
    import open_clip
    import torch
    import torch.nn.functional as F

    from hwutils.clip.data import clean_breed_name

    torch.manual_seed(seed)
    logging.disable(logging.WARNING)  # open_clip warns that no pretrained weights were loaded: that is the point here
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(spec.name)
    finally:
        logging.disable(logging.NOTSET)
    tokenizer = open_clip.get_tokenizer(spec.name)
    breeds = [clean_breed_name(name) for name in DOG_BREED_FOLDERS]
    n_classes, n_templates = len(breeds), len(PRETRAINING_TEMPLATES)

    rng = np.random.default_rng(1000 + seed)  # fresh images, unlike the dataset fixture's (seed 0)
    image_labels = torch.arange(n_classes).repeat_interleave(images_per_class)
    images = torch.stack([preprocess(draw_example(int(c), n_classes, IMAGE_SIZE, rng)) for c in image_labels])
    captions = tokenizer([template.format(breed) for breed in breeds for template in PRETRAINING_TEMPLATES])
    caption_labels = torch.arange(n_classes).repeat_interleave(n_templates)

    model.eval()
    model.visual.trunk.requires_grad_(False)  # random trunk features are computed once ...
    model.token_embedding.requires_grad_(False)  # ... and the 49,408-row embedding stays random too
    with torch.no_grad():
        trunk_features = model.visual.trunk(images)

    def next_batch(generator):
        rows = torch.randint(len(image_labels), (batch_size,), generator=generator)
        # two random captions per class keep every class in each step's text batch
        picked = torch.cat([c * n_templates + torch.randperm(n_templates, generator=generator)[:2] for c in range(n_classes)])
        return rows, picked

    def contrastive_loss(model, batch):
        rows, picked = batch
        image_emb = F.normalize(model.visual.head(trunk_features[rows]), dim=-1)
        text_emb = F.normalize(model.encode_text(captions[picked]), dim=-1)
        logits = model.logit_scale.exp() * image_emb @ text_emb.T
        positives = (image_labels[rows][:, None] == caption_labels[picked][None, :]).float()
        return (soft_cross_entropy(logits, positives) + soft_cross_entropy(logits.T, positives.T)) / 2

    pretrain(model, next_batch, contrastive_loss, steps=spec.steps, lr=PRETRAIN_LR, seed=seed, weight_decay=0.0,
             parameters=[p for p in model.parameters() if p.requires_grad])
    return model.eval()


def soft_cross_entropy(logits, positives):
    """Cross-entropy against a uniform distribution over each row's positives (rows without one are skipped)."""
    has_positive = positives.sum(dim=1) > 0
    target = positives[has_positive] / positives[has_positive].sum(dim=1, keepdim=True)
    return -(target * logits[has_positive].log_softmax(dim=1)).sum(dim=1).mean()


def save_open_clip_weights(model, path: Path) -> None:
    """The model's ``state_dict`` as safetensors, which open_clip's ``load_checkpoint`` reads."""
    from safetensors.torch import save_file

    save_file({name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}, str(path))
