"""Where T5's linear layers and blocks are, by name and shape, computed from its configuration alone.

The from-scratch methods select modules by **name patterns**: a pattern matches a module whose
dotted name ends with the pattern's dotted components (``"q"`` matches
``encoder.block.0.layer.0.SelfAttention.q`` and every other ``q``; ``"SelfAttention.q"`` leaves out
the decoder's cross-attention ``EncDecAttention.q``), as peft's ``target_modules`` do. The analytic
parameter counts apply the same patterns to the layout below, which lists every ``nn.Linear`` of a
``T5ForConditionalGeneration`` without building it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hwutils.core.errors import ConfigError


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True if the dotted module ``name`` ends with one of ``patterns`` (whole components only)."""
    parts = name.split(".")
    for pattern in patterns:
        wanted = pattern.split(".")
        if parts[-len(wanted):] == wanted:
            return True
    return False


@dataclass(frozen=True)
class LinearLayer:
    """``count`` linear layers named like ``name`` (stack.block.layer), each ``in_features -> out_features``."""

    name: str
    in_features: int
    out_features: int
    count: int


def check_t5(config) -> None:
    if getattr(config, "model_type", None) not in ("t5", "mt5"):
        raise ConfigError(f"the analytic counts describe T5 models; this configuration is {config.model_type!r}")


def linear_layers(config) -> list[LinearLayer]:
    """Every ``nn.Linear`` of a ``T5ForConditionalGeneration`` with configuration ``config``.

    Attention projects ``d_model -> num_heads * d_kv`` for q, k, v and back for o; the feed-forward
    block is ``wi: d_model -> d_ff`` and ``wo: d_ff -> d_model`` (``wi_0``/``wi_1`` when gated); the
    encoder has self-attention per layer, the decoder self- and cross-attention (``EncDecAttention``).
    """
    check_t5(config)
    d_model, inner, d_ff = config.d_model, config.num_heads * config.d_kv, config.d_ff
    attention = [("q", d_model, inner), ("k", d_model, inner), ("v", d_model, inner), ("o", inner, d_model)]
    feed_forward = ([("wi_0", d_model, d_ff), ("wi_1", d_model, d_ff)] if config.is_gated_act
                    else [("wi", d_model, d_ff)]) + [("wo", d_ff, d_model)]
    layers = []
    for stack, n, blocks in (("encoder", config.num_layers, ["SelfAttention"]),
                             ("decoder", config.num_decoder_layers, ["SelfAttention", "EncDecAttention"])):
        for block in blocks:
            layers += [LinearLayer(f"{stack}.{block}.{name}", i, o, n) for name, i, o in attention]
        layers += [LinearLayer(f"{stack}.DenseReluDense.{name}", i, o, n) for name, i, o in feed_forward]
    layers.append(LinearLayer("lm_head", d_model, config.vocab_size, 1))
    return layers


def matching_linear_layers(config, patterns: Sequence[str]) -> list[LinearLayer]:
    """The entries of :func:`linear_layers` that ``patterns`` select."""
    return [layer for layer in linear_layers(config) if matches(layer.name, patterns)]


def block_counts(config) -> dict[str, int]:
    """How many of each sub-layer a T5 has: attention blocks by kind, and feed-forward blocks."""
    check_t5(config)
    return {
        "SelfAttention": config.num_layers + config.num_decoder_layers,
        "EncDecAttention": config.num_decoder_layers,
        "DenseReluDense": config.num_layers + config.num_decoder_layers,
    }


def total_parameters(config) -> int:
    """Every parameter of a ``T5ForConditionalGeneration`` (what full fine-tuning trains), from its
    configuration: the shared embedding (and ``lm_head`` unless tied), all linear layers, one
    RMS-norm weight vector per sub-layer and per stack, and the relative-position bias table of
    each stack's first self-attention."""
    check_t5(config)
    linear = sum(layer.in_features * layer.out_features * layer.count for layer in linear_layers(config)
                 if layer.name != "lm_head")
    embeddings = config.vocab_size * config.d_model * (1 if config.tie_word_embeddings else 2)
    norms = config.d_model * (2 * config.num_layers + 3 * config.num_decoder_layers + 2)
    position_bias = 2 * config.relative_attention_num_buckets * config.num_heads
    return embeddings + linear + norms + position_bias


def total_parameters_formula(config) -> str:
    """:func:`total_parameters` written out with this configuration's numbers."""
    d, inner, ff, v = config.d_model, config.num_heads * config.d_kv, config.d_ff, config.vocab_size
    enc, dec = config.num_layers, config.num_decoder_layers
    ff_matrices = 3 if config.is_gated_act else 2
    tied = "" if config.tie_word_embeddings else " × 2 (untied lm_head)"
    return (f"V·d{tied} + L_enc·(4·d·h + {ff_matrices}·d·ff + 2d) + L_dec·(8·d·h + {ff_matrices}·d·ff + 3d) + 2d + 2·buckets·heads"
            f" = {v}·{d} + {enc}·(4·{d}·{inner} + {ff_matrices}·{d}·{ff} + 2·{d}) + {dec}·(8·{d}·{inner} + "
            f"{ff_matrices}·{d}·{ff} + 3·{d}) + 2·{d} + 2·{config.relative_attention_num_buckets}·{config.num_heads}")
