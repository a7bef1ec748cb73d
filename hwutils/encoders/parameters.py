"""Analytic parameter counts of a RoBERTa (BERT-style) classifier and of the PEFT methods on it.

Each count is written from the layer shapes, so it can be checked against what PyTorch counts,
for a tiny model and for ``roberta-large`` built on the meta device. Notation: vocabulary ``V``,
hidden size ``H``, feed-forward size ``I``, ``L`` layers, ``C`` classes, ``P`` virtual tokens.

>>> config = roberta_large_config()
>>> sequence_classifier_parameters(config, num_labels=3)
355362819
>>> from hwutils.core.models import lora_parameters
>>> lora_parameters(layer_shapes(config), r=8, targets=["query", "value"], layers=24) + classification_head_parameters(config, 3)
1839107

LoRA's count is the core's :func:`hwutils.core.models.lora_parameters` on :func:`layer_shapes`;
:func:`architecture_rows` sets every formula next to PyTorch's count, part by part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwutils.core import models


def roberta_large_config(num_labels: int = 3):
    """The published configuration of ``roberta-large`` (its ``config.json`` on the Hub), so the real
    architecture can be built on the meta device without network access."""
    from transformers import RobertaConfig

    return RobertaConfig(
        vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        hidden_act="gelu", max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=num_labels,
    )


def _dims(config: Any) -> tuple[int, int, int, int]:
    return config.vocab_size, config.hidden_size, config.intermediate_size, config.num_hidden_layers


def embedding_parameters(config: Any) -> int:
    """Word, position and token-type embeddings plus their layer norm: ``(V + positions + types)·H + 2H``."""
    V, H, _, _ = _dims(config)
    return (V + config.max_position_embeddings + config.type_vocab_size) * H + 2 * H


def encoder_layer_parameters(config: Any) -> int:
    """One transformer layer: Q, K, V and output projections (``4(H² + H)``), the feed-forward network
    (``H·I + I + I·H + H``) and two layer norms (``4H``)."""
    _, H, I, _ = _dims(config)
    return 4 * (H * H + H) + (H * I + I + I * H + H) + 4 * H


def classification_head_parameters(config: Any, num_labels: int) -> int:
    """RoBERTa's head on the ``<s>`` position: ``dense`` (``H² + H``) then ``out_proj`` (``H·C + C``)."""
    H = config.hidden_size
    return H * H + H + H * num_labels + num_labels


def sequence_classifier_parameters(config: Any, num_labels: int) -> int:
    """All parameters of ``RobertaForSequenceClassification`` (no pooler: the head has its own dense layer)."""
    return (embedding_parameters(config) + config.num_hidden_layers * encoder_layer_parameters(config)
            + classification_head_parameters(config, num_labels))


def word_embedding_parameters(config: Any) -> int:
    """The word-embedding matrix alone, ``V·H`` (51.5M in roberta-large)."""
    return config.vocab_size * config.hidden_size


def layer_shapes(config: Any) -> dict[str, tuple[int, int]]:
    """``(in_features, out_features)`` of the linear layers LoRA can target in one RoBERTa layer, by
    the names peft matches: the query, key and value projections are ``H × H``. (The other linear
    layers are all called ``dense`` and differ in shape, so a target ``dense`` has no single count.)"""
    H = config.hidden_size
    return {"query": (H, H), "key": (H, H), "value": (H, H)}


def prompt_tuning_parameters(config: Any, num_virtual_tokens: int) -> int:
    """Prompt tuning learns one input embedding per virtual token: ``P·H``."""
    return num_virtual_tokens * config.hidden_size


def p_tuning_parameters(config: Any, num_virtual_tokens: int, encoder_hidden_size: int) -> int:
    """P-tuning (peft's MLP prompt encoder): ``P·H`` embeddings re-parameterised by
    ``Linear(H, E) → ReLU → Linear(E, E) → ReLU → Linear(E, H)``."""
    H, E = config.hidden_size, encoder_hidden_size
    return num_virtual_tokens * H + (H * E + E) + (E * E + E) + (E * H + H)


def prefix_tuning_parameters(config: Any, num_virtual_tokens: int, prefix_projection: bool = False,
                             encoder_hidden_size: int = 0) -> int:
    """Deep prompts: a key and a value vector per virtual token in every layer, ``P·2LH``; with
    ``prefix_projection`` they come from ``P·H`` embeddings through ``Linear(H, E) → tanh → Linear(E, 2LH)``."""
    H, L, P = config.hidden_size, config.num_hidden_layers, num_virtual_tokens
    if not prefix_projection:
        return P * 2 * L * H
    E = encoder_hidden_size
    return P * H + (H * E + E) + (E * 2 * L * H + 2 * L * H)


PARTS = ("embeddings", "one transformer layer", "all transformer layers", "classification head", "whole classifier")


def part_formulas(config: Any) -> dict[str, int]:
    """Each part of ``RobertaForSequenceClassification`` (``config.num_labels`` classes) from the formulas above."""
    layer = encoder_layer_parameters(config)
    return dict(zip(PARTS, [embedding_parameters(config), layer, config.num_hidden_layers * layer,
                            classification_head_parameters(config, config.num_labels),
                            sequence_classifier_parameters(config, config.num_labels)]))


def part_counts(config: Any) -> dict[str, int]:
    """Each part counted by PyTorch on the classifier built on the meta device (shapes only, no memory)."""
    from transformers import AutoModelForSequenceClassification

    meta = models.on_meta_device(AutoModelForSequenceClassification, config)
    parts = [meta.roberta.embeddings, meta.roberta.encoder.layer[0], meta.roberta.encoder, meta.classifier, meta]
    return dict(zip(PARTS, [models.count_parameters(part).total for part in parts]))


def architecture_rows(configs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per part: ``"<name>: analytic"`` and ``"<name>: counted"`` for each named configuration."""
    formulas = {name: part_formulas(config) for name, config in configs.items()}
    counts = {name: part_counts(config) for name, config in configs.items()}
    return [{"part": part, **{f"{name}: {kind}": table[name][part] for name in configs
                              for kind, table in (("analytic", formulas), ("counted", counts))}}
            for part in PARTS]
