"""A nanoGPT-style decoder-only transformer for character-level language modelling.

Token and position embeddings, ``n_layer`` pre-norm blocks (causal self-attention and an MLP,
each inside a residual connection), a final LayerNorm and a language-model head tied to the
token embedding, as in Karpathy's nanoGPT. :meth:`GPT.generate` samples with a temperature.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.lm.transformer import FeedForward, MultiHeadAttention, layer_norm_parameters, linear_parameters


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.2

    def as_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """``x + attention(norm(x))`` then ``x + mlp(norm(x))``: pre-norm, as GPT-2."""

    def __init__(self, c: GPTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(c.n_embd)
        self.attention = MultiHeadAttention(c.n_embd, c.n_head, c.n_embd // c.n_head, causal=True, dropout=c.dropout)
        self.norm2 = nn.LayerNorm(c.n_embd)
        self.mlp = FeedForward((c.n_embd, 4 * c.n_embd, c.n_embd), activation=nn.GELU, dropout=c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ConfigError(f"n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head}): every head "
                              f"gets n_embd / n_head dimensions")
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # weight tying: one matrix reads and writes tokens
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits ``(B, T, vocab)`` and, with ``targets``, the mean next-token cross-entropy."""
        _, length = idx.shape
        if length > self.config.block_size:
            raise ValueError(f"sequence of {length} tokens is longer than block_size={self.config.block_size}")
        positions = torch.arange(length, device=idx.device)
        x = self.dropout(self.token_embedding(idx) + self.position_embedding(positions))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm(x))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append ``max_new_tokens`` tokens sampled from ``softmax(logits / temperature)``.

        A low temperature sharpens the distribution towards the likeliest token; a high one
        flattens it towards uniform.
        """
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size :])
            probabilities = F.softmax(logits[:, -1, :] / temperature, dim=-1)
            next_id = torch.multinomial(probabilities, num_samples=1, generator=generator)
            idx = torch.cat([idx, next_id], dim=1)
        return idx


def gpt_parameters(c: GPTConfig) -> int:
    """Analytic count: embeddings + blocks + final norm (the head shares the token embedding)."""
    attention = 4 * linear_parameters(c.n_embd, c.n_embd)
    mlp = linear_parameters(c.n_embd, 4 * c.n_embd) + linear_parameters(4 * c.n_embd, c.n_embd)
    block = attention + mlp + 2 * layer_norm_parameters(c.n_embd)
    embeddings = c.vocab_size * c.n_embd + c.block_size * c.n_embd
    return embeddings + c.n_layer * block + layer_norm_parameters(c.n_embd)
