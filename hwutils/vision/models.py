"""The ViT classifier, its LoRA configuration, and what LoRA costs: trainable parameters and adapter files.

* :func:`load_classifier`: the pre-trained backbone with a new head sized and named for our classes;
* :func:`lora_config` / :func:`add_lora`: LoRA on the attention projections named in the settings, the head
  trained in full;
* :func:`vit_lora_trainable_parameters`: the same count derived analytically (through
  :func:`hwutils.core.models.lora_parameters`, the one LoRA formula of the project);
* :func:`save_adapter` / :func:`reload_adapter`: the adapter on its own, and back onto a fresh base model.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from hwutils.core.models import count_parameters, from_pretrained, lora_parameters, on_meta_device
from hwutils.core.training import seed_everything
from hwutils.vision.data import label_maps

VIT_ATTENTION_PROJECTIONS = ("query", "key", "value")


def load_classifier(source: str, names: Sequence[str], seed: int) -> nn.Module:
    """The pre-trained ViT ``source`` with a fresh head for the classes ``names``, labelled both ways.

    Seeded, so every method (and the reloaded adapter) starts from the same random head.
    """
    from transformers import ViTForImageClassification

    seed_everything(seed)
    id2label, label2id = label_maps(list(names))
    return from_pretrained(ViTForImageClassification, source, num_labels=len(names), id2label=id2label, label2id=label2id)


def lora_config(settings: Mapping[str, Any]) -> Any:
    """peft's ``LoraConfig`` from the settings ``lora_r``, ``lora_alpha``, ``lora_dropout`` and ``lora_targets``.

    The new head starts random and belongs to this task, so it is trained in full: peft's
    ``modules_to_save`` keeps a trainable copy of it and saves it with the adapter.
    """
    from peft import LoraConfig

    return LoraConfig(r=settings["lora_r"], lora_alpha=settings["lora_alpha"], lora_dropout=settings["lora_dropout"],
                      target_modules=list(settings["lora_targets"]), bias="none", modules_to_save=["classifier"])


def add_lora(model: nn.Module, settings: Mapping[str, Any]) -> nn.Module:
    """``model`` wrapped by peft: every base weight frozen, LoRA on the ``lora_targets`` layers, the head trainable."""
    from peft import get_peft_model

    return get_peft_model(model, lora_config(settings))


def vit_lora_trainable_parameters(config: Any, rank: int, targets: Sequence[str], num_labels: int,
                                  train_head: bool = True) -> dict[str, int]:
    """Trainable parameters of LoRA (no bias) on a ViT's attention projections, plus a new head.

    Each targeted ``Linear(d, d)`` gets ``A`` (``rank x d``) and ``B`` (``d x rank``): ``2·d·rank``
    parameters, in every one of the ``num_hidden_layers`` blocks. The classification head is a
    ``Linear(d, num_labels)`` trained in full: ``d·num_labels + num_labels``.
    """
    d = config.hidden_size
    shapes = {name: (d, d) for name in VIT_ATTENTION_PROJECTIONS}
    lora = lora_parameters(shapes, rank, targets, layers=config.num_hidden_layers)
    head = d * num_labels + num_labels if train_head else 0
    return {"lora": lora, "head": head, "total": lora + head}


def reference_classifier(architecture: Mapping[str, Any]) -> nn.Module:
    """A ``ViTForImageClassification`` of ``architecture`` (ViTConfig fields and ``num_labels``) on the
    meta device: its parameters can be counted without memory or a download."""
    from transformers import ViTConfig, ViTForImageClassification

    return on_meta_device(ViTForImageClassification, ViTConfig(**dict(architecture)))


def parameter_row(label: str, lora_model: nn.Module, base_total: int, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The analytic LoRA + head count of ``lora_model`` beside the count of its trainable parameters."""
    config = lora_model.config
    analytic = vit_lora_trainable_parameters(config, settings["lora_r"], settings["lora_targets"], config.num_labels)
    return {"model": label, "hidden_size": config.hidden_size, "layers": config.num_hidden_layers,
            "lora_analytic": analytic["lora"], "head_analytic": analytic["head"], "trainable_analytic": analytic["total"],
            "trainable_counted": count_parameters(lora_model).trainable, "base_total": base_total}


def save_adapter(lora_model: nn.Module, folder: str | Path) -> dict[str, int]:
    """``save_pretrained`` of a peft model into an emptied ``folder``; returns each file's size in bytes."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)  # a file of an earlier run must not be counted as this one's
    lora_model.save_pretrained(folder)
    return {path.name: path.stat().st_size for path in sorted(folder.iterdir()) if path.is_file()}


def reload_adapter(source: str, names: Sequence[str], seed: int, folder: str | Path) -> nn.Module:
    """A fresh base model (a new random head) with the saved adapter and trained head loaded onto it."""
    from peft import PeftModel

    return PeftModel.from_pretrained(load_classifier(source, names, seed), Path(folder))
