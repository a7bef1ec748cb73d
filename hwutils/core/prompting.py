"""Prompting a causal language model: demonstrations, and two ways to read its answer.

Shared by every notebook that prompts a decoder LM (LLaMA on MNLI, a Persian LM). Nothing here
knows the task: prompts are strings, candidate answers are strings, labels are column values.

* :func:`pick_demonstrations` chooses solved examples to show in a few-shot prompt;
* **scoring** (:func:`score_continuations`, or :func:`score_token_continuations` on token ids):
  the log-probability the model gives to each candidate continuation (a label word, say) after the
  prompt; the prediction is the best-scored candidate, so every example gets one;
* **generation** (:func:`generate_greedy`): greedy decoding of a few tokens, for a notebook to parse;
* :func:`contextual_calibration` divides out the label probabilities the model gives to a
  content-free input (Zhao et al., 2021, "Calibrate before use");
  :func:`normalised_label_probabilities` is the softmax over the candidates it builds on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hwutils.core.progress import progress


def pick_demonstrations(dataset, shots: int, seed: int, label_column: str = "label") -> list[dict[str, Any]]:
    """``shots`` training rows to show in prompts: one per class in turn (so a 3-shot prompt shows
    each label once), each class's row and the final order chosen with ``seed``."""
    rng = random.Random(seed)
    labels = list(dataset[label_column])
    by_class = {c: [i for i, y in enumerate(labels) if y == c] for c in sorted(set(labels))}
    classes = list(by_class)
    rng.shuffle(classes)
    chosen = [rng.choice(by_class[classes[k % len(classes)]]) for k in range(shots)]
    rng.shuffle(chosen)
    return [dataset[i] for i in chosen]


def _left_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ids, attention mask and position ids (counted from each row's first real token)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids, mask, positions


@torch.no_grad()
def score_token_continuations(model: torch.nn.Module, prompt_ids: Sequence[Sequence[int]],
                              continuation_ids: Sequence[Sequence[int]], pad_id: int, batch_size: int = 16,
                              desc: str = "scoring") -> np.ndarray:
    """``log p(continuation | prompt)`` for every prompt and every continuation: shape (prompts, continuations).

    Each score is the sum of the log-probabilities of the continuation's tokens, i.e. the
    log-probability of the whole continuation. Rows are left-padded, so every continuation ends at
    the last position and only the last ``max continuation length + 1`` positions need logits (a
    128k-word vocabulary makes full logits expensive). Position ids count from each row's first real
    token, so padding changes nothing. When every continuation is a single token, one forward pass
    of the prompt alone scores all of them.
    """
    if any(len(c) == 0 for c in continuation_ids):
        raise ValueError("every continuation needs at least one token")
    scores = np.zeros((len(prompt_ids), len(continuation_ids)))
    device = next(model.parameters()).device
    single_tokens = all(len(c) == 1 for c in continuation_ids)
    if single_tokens:  # one row per prompt: the next-token distribution at its end holds every score
        rows = [(p, None) for p in range(len(prompt_ids))]
        sequences = [list(prompt) for prompt in prompt_ids]
        first_tokens = [c[0] for c in continuation_ids]
    else:  # one row per (prompt, continuation) pair
        rows = [(p, c) for p in range(len(prompt_ids)) for c in range(len(continuation_ids))]
        sequences = [list(prompt_ids[p]) + list(continuation_ids[c]) for p, c in rows]
    order = sorted(range(len(rows)), key=lambda k: len(sequences[k]))  # similar lengths batch together
    for start in progress(range(0, len(order), batch_size), desc=desc):
        batch = order[start:start + batch_size]
        ids, mask, positions = _left_padded([sequences[k] for k in batch], pad_id)
        lengths = [0 if single_tokens else len(continuation_ids[rows[k][1]]) for k in batch]
        keep = max(lengths) + 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                       logits_to_keep=keep).logits[:, -keep:, :]
        log_probs = torch.log_softmax(logits.float(), dim=-1).cpu()  # position j predicts the token at j + 1
        for i, (k, n) in enumerate(zip(batch, lengths)):
            p, c = rows[k]
            if single_tokens:
                scores[p] = log_probs[i, -1, first_tokens].numpy()
            else:  # the continuation's n tokens are predicted by the n positions before the last one
                targets = ids[i, -n:]
                scores[p, c] = log_probs[i, keep - 1 - n: keep - 1].gather(1, targets[:, None]).sum().item()
    return scores


def score_continuations(model: torch.nn.Module, tokenizer: Any, prompts: Sequence[str], continuations: Sequence[str],
                        batch_size: int = 16, desc: str = "scoring") -> np.ndarray:
    """Scores (prompts x continuations): ``log p(continuation | prompt)`` of each continuation text
    (e.g. ``" entailment"``, with its leading space) after each prompt."""
    prompt_ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    continuation_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in continuations]
    return score_token_continuations(model, prompt_ids, continuation_ids, tokenizer.pad_token_id, batch_size, desc)


def normalised_label_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax over the labels of each row: the model's distribution restricted to the label words."""
    scores = np.asarray(scores, dtype=float)
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def contextual_calibration(scores: np.ndarray, content_free_scores: np.ndarray) -> np.ndarray:
    """Calibrated log-scores: ``log p(label | x) - log p(label | content-free x)``, both normalised
    over the labels. ``content_free_scores`` has one row per content-free input (averaged) or is a
    single row. A label the model favours whatever the input loses exactly that favour."""
    bias = normalised_label_probabilities(np.atleast_2d(content_free_scores)).mean(axis=0)
    return np.log(normalised_label_probabilities(scores)) - np.log(bias)


@torch.no_grad()
def generate_greedy(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 5,
                    batch_size: int = 16, desc: str = "generating") -> list[str]:
    """Greedy continuations of ``prompts`` (``max_new_tokens`` tokens each), decoded to text.

    Batches are left-padded (generation appends on the right); the tokenizer's padding side is
    restored afterwards, whatever happens.
    """
    device = next(model.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts: list[str] = []
    try:
        for start in progress(range(0, len(prompts), batch_size), desc=desc):
            batch = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True).to(device)
            out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            texts += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return texts
