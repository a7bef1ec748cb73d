"""Analytic parameter counts of a RoBERTa (BERT-style) classifier and of the PEFT methods on it.

Each count is written from the layer shapes, so it can be checked against what PyTorch counts,
for a tiny model and for ``roberta-large`` built on the meta device. Notation: vocabulary ``V``,
hidden size ``H``, feed-forward size ``I``, ``L`` layers, ``C`` classes, ``P`` virtual tokens.

>>> config = roberta_large_config()
>>> sequence_classifier_parameters(config, num_labels=3)
355362819
>>> lora_parameters(config, r=8, target_modules=["query", "value"]) + classification_head_parameters(config, 3)
1839107
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hwutils.core.errors import ConfigError

LORA_TARGETS = ("query", "key", "value")  # square H x H projections in every attention block


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


def lora_parameters(config: Any, r: int, target_modules: Iterable[str]) -> int:
    """LoRA's ``A`` (``r × in``) and ``B`` (``out × r``) for each target in every layer: ``L·|targets|·2rH``."""
    targets = list(target_modules)
    unknown = [t for t in targets if t not in LORA_TARGETS]
    if unknown:
        raise ConfigError(f"no analytic LoRA count for targets {unknown}; supported: {', '.join(LORA_TARGETS)}")
    H = config.hidden_size
    return config.num_hidden_layers * len(targets) * r * (H + H)


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
