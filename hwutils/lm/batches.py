"""Language-modelling data: a token stream cut into ``block_size`` windows, sampled at random.

As in nanoGPT, a batch is ``batch_size`` windows starting at random offsets; the target of each
position is the next token. A held-out tail of the stream is the validation split.
"""

from __future__ import annotations

import torch

from hwutils.core.errors import DataError

Batch = tuple[torch.Tensor, torch.Tensor]


def train_val_split(ids: list[int] | torch.Tensor, val_fraction: float, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``1 - val_fraction`` of the stream for training, the rest for validation.

    Both parts must hold at least one window of ``block_size + 1`` tokens (inputs plus the shifted
    targets); otherwise a ``DataError`` says how long the corpus is and what would fit.
    """
    ids = torch.as_tensor(ids, dtype=torch.long)
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n_val = int(len(ids) * val_fraction)
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    needed = block_size + 1
    if len(train) < needed or len(val) < needed:
        raise DataError(
            f"the corpus has {len(ids):,} tokens: too short for block_size={block_size} "
            f"(the train and validation parts each need at least {needed:,}, got {len(train):,} and {len(val):,}); "
            "use a smaller block_size or a larger corpus"
        )
    return train, val


def random_batch(ids: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator) -> Batch:
    """``batch_size`` random windows of ``ids``: inputs ``x`` and next-token targets ``y``."""
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    x = torch.stack([ids[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + block_size + 1] for s in starts.tolist()])
    return x, y


def fixed_batches(ids: torch.Tensor, block_size: int, batch_size: int, n_batches: int, seed: int) -> list[Batch]:
    """The same ``n_batches`` random batches every time: losses measured on them are comparable."""
    generator = torch.Generator().manual_seed(seed)
    return [random_batch(ids, block_size, batch_size, generator) for _ in range(n_batches)]

