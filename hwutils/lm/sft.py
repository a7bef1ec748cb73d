"""Supervised fine-tuning in miniature: the loss is computed on the response only.

An SFT example is an (instruction, response) pair written as one text. The model reads all of it,
but only the response's tokens are targets: the instruction's targets are set to -100, which
``cross_entropy`` ignores. The model is thus taught to answer, not to write instructions.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index


def sft_example(tokenizer, instruction: str, response: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and next-token targets of ``instruction + response``, targets on the response only."""
    prompt_ids, response_ids = tokenizer.encode(instruction), tokenizer.encode(response)
    ids = torch.tensor(prompt_ids + response_ids)
    targets = ids[1:].clone()
    targets[: len(prompt_ids) - 1] = IGNORE_INDEX  # position t predicts token t + 1: the prompt's own tokens carry no loss
    return ids[:-1], targets


def loss_on(model, ids: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy of ``model`` on the targets that are not ignored."""
    with torch.no_grad():
        _, loss = model(ids[None].to(next(model.parameters()).device), targets[None].to(next(model.parameters()).device))
    return float(loss)
