"""An encoder-decoder transformer built from plain ``nn.Module``s, with analytic parameter counts.

Notebook 06 uses it to trace tensor shapes through every block; :mod:`hwutils.lm.nanogpt` reuses its
:class:`MultiHeadAttention` and :class:`FeedForward`. The blocks use post-layer-norm
(``LayerNorm(x + sublayer(x))``) as in *Attention Is All You Need*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TransformerConfig:
    """The assignment's architecture by default: 6 heads of size 128, FFN 1024-512-512-1024."""

    d_model: int = 1024
    n_heads: int = 6
    head_dim: int = 128
    ffn_hidden: tuple[int, ...] = (512, 512)
    n_encoder_layers: int = 6
    n_decoder_layers: int = 8
    dropout: float = 0.0

    @property
    def ffn_dims(self) -> tuple[int, ...]:
        return (self.d_model, *self.ffn_hidden, self.d_model)


class MultiHeadAttention(nn.Module):
    """``n_heads`` heads of size ``head_dim``: Q/K/V project ``d_model -> head_dim`` per head.

    The per-head projections are stacked into one ``Linear(d_model, n_heads * head_dim)`` each for
    Q, K and V (the same parameters, one matrix multiply); the concatenated heads are projected
    back to ``d_model``. With ``memory`` given, keys and values come from it (cross-attention).
    """

    def __init__(self, d_model: int, n_heads: int, head_dim: int, causal: bool = False, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.head_dim, self.causal, self.dropout = n_heads, head_dim, causal, dropout
        inner = n_heads * head_dim
        self.query = nn.Linear(d_model, inner)
        self.key = nn.Linear(d_model, inner)
        self.value = nn.Linear(d_model, inner)
        self.output = nn.Linear(inner, d_model)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        source = x if memory is None else memory
        q, k, v = (self._split_heads(p(t)) for p, t in ((self.query, x), (self.key, source), (self.value, source)))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        batch, _, length, _ = y.shape
        return self.output(y.transpose(1, 2).reshape(batch, length, self.n_heads * self.head_dim))

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        batch, length, _ = t.shape  # (B, T, H*D) -> (B, H, T, D)
        return t.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)


class FeedForward(nn.Sequential):
    """Linear layers through ``dims`` (e.g. 1024-512-512-1024) with an activation between them."""

    def __init__(self, dims: Sequence[int], activation: type[nn.Module] = nn.ReLU, dropout: float = 0.0):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(pairwise(dims)):
            if i > 0:
                layers.append(activation())
            layers.append(nn.Linear(a, b))
        super().__init__(*layers, nn.Dropout(dropout))


class EncoderBlock(nn.Module):
    """Self-attention, then feed-forward, each followed by residual + LayerNorm."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = config
        self.self_attention = MultiHeadAttention(c.d_model, c.n_heads, c.head_dim, dropout=c.dropout)
        self.norm1 = nn.LayerNorm(c.d_model)
        self.feed_forward = FeedForward(c.ffn_dims, dropout=c.dropout)
        self.norm2 = nn.LayerNorm(c.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attention(x))
        return self.norm2(x + self.feed_forward(x))


class DecoderBlock(nn.Module):
    """Masked self-attention, cross-attention to the encoder output, feed-forward; each + LayerNorm."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = config
        self.self_attention = MultiHeadAttention(c.d_model, c.n_heads, c.head_dim, causal=True, dropout=c.dropout)
        self.norm1 = nn.LayerNorm(c.d_model)
        self.cross_attention = MultiHeadAttention(c.d_model, c.n_heads, c.head_dim, dropout=c.dropout)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.feed_forward = FeedForward(c.ffn_dims, dropout=c.dropout)
        self.norm3 = nn.LayerNorm(c.d_model)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attention(x))
        x = self.norm2(x + self.cross_attention(x, memory))
        return self.norm3(x + self.feed_forward(x))


class EncoderDecoder(nn.Module):
    """The stacks of encoder and decoder blocks, on inputs already embedded to ``d_model``."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.encoder = nn.ModuleList(EncoderBlock(config) for _ in range(config.n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_decoder_layers))

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        memory = source
        for block in self.encoder:
            memory = block(memory)
        x = target
        for block in self.decoder:
            x = block(x, memory)
        return x


# ---------------------------------------------------------------------------------------------
# Analytic parameter counts
# ---------------------------------------------------------------------------------------------


def linear_parameters(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def attention_parameters(d_model: int, n_heads: int, head_dim: int) -> int:
    """Q, K, V: ``3 (d h + h)`` with ``h = n_heads * head_dim``; output: ``h d + d``."""
    inner = n_heads * head_dim
    return 3 * linear_parameters(d_model, inner) + linear_parameters(inner, d_model)


def feed_forward_parameters(dims: Sequence[int]) -> int:
    return sum(linear_parameters(a, b) for a, b in pairwise(dims))


def layer_norm_parameters(d_model: int) -> int:
    return 2 * d_model  # a gain and a bias per feature


def block_parameter_rows(config: TransformerConfig) -> list[dict]:
    """Analytic parameters of each sub-block, each block, each stack and the whole model."""
    c = config
    attention = attention_parameters(c.d_model, c.n_heads, c.head_dim)
    ffn = feed_forward_parameters(c.ffn_dims)
    norm = layer_norm_parameters(c.d_model)
    encoder_block = attention + ffn + 2 * norm
    decoder_block = 2 * attention + ffn + 3 * norm
    h = c.n_heads * c.head_dim
    return [
        {"part": "multi-head attention", "formula": f"3·({c.d_model}·{h}+{h}) + ({h}·{c.d_model}+{c.d_model})", "analytic": attention},
        {"part": "feed-forward", "formula": " + ".join(f"({a}·{b}+{b})" for a, b in pairwise(c.ffn_dims)), "analytic": ffn},
        {"part": "layer norm", "formula": f"2·{c.d_model}", "analytic": norm},
        {"part": "encoder block", "formula": "attention + FFN + 2 norms", "analytic": encoder_block},
        {"part": "decoder block", "formula": "2 attentions + FFN + 3 norms", "analytic": decoder_block},
        {"part": f"encoder ({c.n_encoder_layers} blocks)", "formula": f"{c.n_encoder_layers} × encoder block", "analytic": c.n_encoder_layers * encoder_block},
        {"part": f"decoder ({c.n_decoder_layers} blocks)", "formula": f"{c.n_decoder_layers} × decoder block", "analytic": c.n_decoder_layers * decoder_block},
        {"part": "whole model", "formula": "encoder + decoder", "analytic": c.n_encoder_layers * encoder_block + c.n_decoder_layers * decoder_block},
    ]


def counted_parameters(model: EncoderDecoder) -> dict[str, int]:
    """The same parts as :func:`block_parameter_rows`, counted from ``.parameters()``."""
    def n(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    encoder_block, decoder_block = model.encoder[0], model.decoder[0]
    c = model.config
    return {
        "multi-head attention": n(encoder_block.self_attention),
        "feed-forward": n(encoder_block.feed_forward),
        "layer norm": n(encoder_block.norm1),
        "encoder block": n(encoder_block),
        "decoder block": n(decoder_block),
        f"encoder ({c.n_encoder_layers} blocks)": n(model.encoder),
        f"decoder ({c.n_decoder_layers} blocks)": n(model.decoder),
        "whole model": n(model),
    }


def attention_step_shapes(attention: MultiHeadAttention, x: torch.Tensor) -> list[dict]:
    """The shapes inside one attention layer, step by step: the steps that
    ``scaled_dot_product_attention`` fuses, run one at a time on ``x``'s device (the meta device at
    full size: no memory, no compute), ending in the layer's own output (checked against it)."""
    batch, length, d_model = x.shape
    q = attention._split_heads(attention.query(x))
    k = attention._split_heads(attention.key(x))
    v = attention._split_heads(attention.value(x))
    scores = q @ k.transpose(-2, -1) / attention.head_dim ** 0.5
    weights = scores.softmax(dim=-1)
    heads = weights @ v
    merged = heads.transpose(1, 2).reshape(batch, length, attention.n_heads * attention.head_dim)
    out = attention.output(merged)
    assert out.shape == attention(x).shape  # the fused layer gives the same shape
    return [
        {"step": "input, embedded", "shape": tuple(x.shape)},
        {"step": "Q (and K, V) = x W + b, all heads at once", "shape": tuple(attention.query(x).shape)},
        {"step": "split into heads", "shape": tuple(q.shape)},
        {"step": "QKᵀ / √d_k (one score per pair of positions)", "shape": tuple(scores.shape)},
        {"step": "softmax over keys", "shape": tuple(weights.shape)},
        {"step": "weights × V", "shape": tuple(heads.shape)},
        {"step": "heads concatenated", "shape": tuple(merged.shape)},
        {"step": "output projection", "shape": tuple(out.shape)},
    ]


def report_typo_note(decoder_block: int, config: TransformerConfig, report_decoder_block: int,
                     report_encoder_block: int, report_total: int) -> str:
    """Markdown setting a course report's decoder-block figure against the count here and against
    what the report's own total implies (total = encoder blocks + decoder blocks)."""
    implied = (report_total - config.n_encoder_layers * report_encoder_block) / config.n_decoder_layers
    if report_decoder_block == decoder_block:
        return f"The course report's decoder-block figure, {report_decoder_block:,}, equals the count here."
    return (f"A course report of this assignment gives a decoder block **{report_decoder_block:,}** parameters. Its own "
            f"total, {report_total:,} = {config.n_encoder_layers} × {report_encoder_block:,} + {config.n_decoder_layers} × "
            f"(decoder block), implies a decoder block of {implied:,.0f}; the count here is {decoder_block:,}. "
            + ("So the report's figure is a typo for the count above." if implied == decoder_block else
               "The report's total does not match the count here either."))
