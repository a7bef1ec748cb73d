"""Hard prompts against soft prompts: where a learned prompt sits among the vocabulary's embeddings.

A *hard* prompt is text: every position is one of the vocabulary's ``V`` word embeddings (notebook
03 writes such prompts for Llama-3). A *soft* prompt (prompt tuning) is ``P`` free vectors in the
same space, trained by gradient descent. :func:`nearest_tokens` asks, for each learned vector, which
word embedding is closest (cosine similarity) and how close; :func:`vocabulary_neighbour_similarity`
gives the yardstick: how close a word's embedding typically is to its nearest *other* word.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def soft_prompt(model: nn.Module, adapter: str = "default") -> torch.Tensor | None:
    """The ``P × H`` prompt vectors of a peft prompt-tuning model (``None`` if it has none)."""
    encoder = getattr(model, "prompt_encoder", None)
    if encoder is None or adapter not in encoder or not hasattr(encoder[adapter], "embedding"):
        return None
    return encoder[adapter].embedding.weight.detach().float().cpu().clone()


def nearest_tokens(vectors: torch.Tensor, word_embeddings: torch.Tensor, tokenizer: Any) -> list[dict[str, Any]]:
    """For each row of ``vectors``: its nearest vocabulary token by cosine similarity, that similarity,
    and the vector's norm against the median word-embedding norm."""
    words = word_embeddings.detach().float().cpu()
    similarity = F.normalize(vectors.float(), dim=-1) @ F.normalize(words, dim=-1).T
    best, index = similarity.max(dim=-1)
    median_norm = float(words.norm(dim=-1).median())
    tokens = tokenizer.convert_ids_to_tokens(index.tolist())
    return [{"virtual token": i, "nearest word": token, "cosine": float(b), "norm / median word norm": float(n) / median_norm}
            for i, (token, b, n) in enumerate(zip(tokens, best, vectors.float().norm(dim=-1)))]


def vocabulary_neighbour_similarity(word_embeddings: torch.Tensor, sample: int = 2000, seed: int = 0) -> float:
    """Median, over ``sample`` random words, of the cosine similarity to their nearest other word."""
    words = F.normalize(word_embeddings.detach().float().cpu(), dim=-1)
    chosen = torch.randperm(len(words), generator=torch.Generator().manual_seed(seed))[:sample]
    similarity = words[chosen] @ words.T
    similarity[torch.arange(len(chosen)), chosen] = -1.0  # not the word itself
    return float(similarity.max(dim=-1).values.median())
