"""hwutils.vision.models: the classifier with its labelled head, LoRA's trainable count, the adapter saved and reloaded."""

from __future__ import annotations

import pytest
import torch
from peft import get_peft_model
from transformers import ViTConfig, ViTForImageClassification, ViTModel

from hwutils.core.errors import ConfigError
from hwutils.core.models import count_parameters
from hwutils.vision import models as vit

NAMES = ["apple_pie", "beignets", "pizza", "ramen", "sushi"]
SMALL_VIT = dict(image_size=32, patch_size=8, hidden_size=48, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96)
LORA = {"lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "lora_targets": ["query", "value"]}


@pytest.fixture(scope="module")
def backbone_folder(tmp_path_factory):
    """A small random ViT backbone saved like the in21k checkpoint (no classification head)."""
    folder = tmp_path_factory.mktemp("vit_backbone")
    torch.manual_seed(0)
    ViTModel(ViTConfig(**SMALL_VIT)).save_pretrained(folder)
    return str(folder)


def lora_trainable(model, targets, rank):
    return count_parameters(get_peft_model(model, vit.lora_config({**LORA, "lora_r": rank, "lora_targets": targets}))).trainable


# ---------------------------------------------------------------------------------------------
# The analytic count
# ---------------------------------------------------------------------------------------------


def test_lora_formula_gives_the_reference_count_for_vit_base_with_101_classes():
    architecture = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                    "image_size": 224, "patch_size": 16, "num_labels": 101}
    model = vit.reference_classifier(architecture)
    assert next(model.parameters()).device.type == "meta"
    assert vit.vit_lora_trainable_parameters(model.config, 16, ["query", "value"], 101) == \
        {"lora": 589_824, "head": 77_669, "total": 667_493}
    assert count_parameters(model).total == 85_876_325
    settings = {**LORA, "lora_r": 16}
    row = vit.parameter_row("ViT-base", get_peft_model(model, vit.lora_config(settings)), 85_876_325, settings)
    assert row["trainable_analytic"] == row["trainable_counted"] == 667_493
    assert (row["hidden_size"], row["layers"], row["lora_analytic"], row["head_analytic"]) == (768, 12, 589_824, 77_669)


@pytest.mark.parametrize("targets, rank", [(["query", "value"], 4), (["query", "key", "value"], 8), (["value"], 2)])
def test_lora_formula_matches_peft_on_a_small_vit(targets, rank):
    config = ViTConfig(**SMALL_VIT, num_labels=5)
    analytic = vit.vit_lora_trainable_parameters(config, rank, targets, 5)
    assert analytic["total"] == lora_trainable(ViTForImageClassification(config), targets, rank)
    assert analytic["head"] == 48 * 5 + 5
    assert vit.vit_lora_trainable_parameters(config, rank, targets, 5, train_head=False)["total"] == analytic["lora"]


def test_lora_formula_refuses_modules_it_does_not_cover():
    with pytest.raises(ConfigError, match="query, key, value"):
        vit.vit_lora_trainable_parameters(ViTConfig(), 8, ["query", "dense"], 10)


def test_lora_config_reads_the_glossary_names_and_trains_the_head():
    config = vit.lora_config(LORA)
    assert (config.r, config.lora_alpha, config.lora_dropout) == (4, 8, 0.0)
    assert set(config.target_modules) == {"query", "value"} and config.modules_to_save == ["classifier"]


# ---------------------------------------------------------------------------------------------
# The classifier and its adapter
# ---------------------------------------------------------------------------------------------


def test_load_classifier_names_its_outputs_and_seeds_the_new_head(backbone_folder):
    model = vit.load_classifier(backbone_folder, NAMES, seed=0)
    assert model.classifier.out_features == len(NAMES)
    assert model.config.id2label[3] == "ramen" and model.config.label2id["pizza"] == 2
    same = vit.load_classifier(backbone_folder, NAMES, seed=0)
    other = vit.load_classifier(backbone_folder, NAMES, seed=1)
    assert torch.equal(model.classifier.weight, same.classifier.weight)
    assert not torch.equal(model.classifier.weight, other.classifier.weight)


def test_saved_adapter_reloads_onto_a_fresh_base_with_the_same_outputs(backbone_folder, tmp_path):
    lora_model = get_peft_model(vit.load_classifier(backbone_folder, NAMES, seed=0), vit.lora_config(LORA))
    with torch.no_grad():  # stand-in for training: move the LoRA matrices and the head away from their start
        for name, parameter in lora_model.named_parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(len(name))) * 0.1)
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "stale.bin").write_bytes(b"from an earlier run")
    files = vit.save_adapter(lora_model, folder)
    assert {"adapter_model.safetensors", "adapter_config.json"} <= set(files) and "stale.bin" not in files
    assert all(size > 0 for size in files.values())
    # a different seed gives the fresh base another random head: the saved one must replace it
    reloaded = vit.reload_adapter(backbone_folder, NAMES, seed=1, folder=folder)
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    lora_model.eval(), reloaded.eval()
    with torch.no_grad():
        expected, actual = lora_model(pixel_values=pixels).logits, reloaded(pixel_values=pixels).logits
        fresh = vit.load_classifier(backbone_folder, NAMES, seed=1)(pixel_values=pixels).logits
    assert torch.allclose(actual, expected, atol=1e-6)
    assert not torch.allclose(fresh, expected, atol=1e-3)
