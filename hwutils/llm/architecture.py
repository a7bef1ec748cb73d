"""Llama's shapes, for counting parameters analytically and on the meta device, offline.

``LLAMA_3_8B`` holds the architecture values of ``meta-llama/Meta-Llama-3-8B``'s ``config.json``
(the model is gated, so they are shipped here): the notebook builds the real architecture on
PyTorch's meta device from them, without a download or a single allocated weight, and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hwutils.core.models import lora_parameters

# From meta-llama/Meta-Llama-3-8B/config.json (architecture values only).
LLAMA_3_8B: dict[str, Any] = {
    "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 8192,
    "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False,
    "attention_bias": False, "mlp_bias": False, "bos_token_id": 128000, "eos_token_id": 128001,
}


def llama_config(values: Mapping[str, Any] = LLAMA_3_8B):
    """A ``transformers.LlamaConfig`` with these architecture values."""
    from transformers import LlamaConfig

    return LlamaConfig(**values)


def _get(config: Any, name: str) -> Any:
    return config[name] if isinstance(config, Mapping) else getattr(config, name)


def projection_shapes(config: Any) -> dict[str, tuple[int, int]]:
    """``(in_features, out_features)`` of each linear projection of one decoder layer."""
    hidden, inner = _get(config, "hidden_size"), _get(config, "intermediate_size")
    heads, kv_heads = _get(config, "num_attention_heads"), _get(config, "num_key_value_heads")
    head_dim = hidden // heads  # grouped-query attention: k and v have kv_heads heads of this size
    return {
        "q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv_heads * head_dim),
        "v_proj": (hidden, kv_heads * head_dim), "o_proj": (heads * head_dim, hidden),
        "gate_proj": (hidden, inner), "up_proj": (hidden, inner), "down_proj": (inner, hidden),
    }


def llama_lora_parameters(config: Any, r: int, targets: Iterable[str]) -> int:
    """Parameters LoRA of rank ``r`` adds to the ``targets`` of every decoder layer: the core's count
    (:func:`hwutils.core.models.lora_parameters`, ``r (in + out)`` per target) over one layer's
    :func:`projection_shapes`, times the layers."""
    return lora_parameters(projection_shapes(config), r, targets, layers=_get(config, "num_hidden_layers"))


def llama_parameters(config: Any) -> int:
    """All parameters of ``LlamaForCausalLM``: embeddings, layers (projections + 2 RMSNorms), final
    norm, and an output layer unless it is tied to the embeddings."""
    hidden, vocab = _get(config, "hidden_size"), _get(config, "vocab_size")
    per_layer = sum(i * o for i, o in projection_shapes(config).values()) + 2 * hidden
    tied = _get(config, "tie_word_embeddings")
    return vocab * hidden + _get(config, "num_hidden_layers") * per_layer + hidden + (0 if tied else vocab * hidden)
