"""Classification as text-to-text with an encoder-decoder (T5): ``"sentiment: <review>"`` -> ``"positive"``.

Training is ordinary sequence-to-sequence learning: the decoder learns to write the label word.
Predictions read the decoder's **first step**: of the label words' first tokens, the one with the
highest score wins. Every example therefore gets a valid label (a free-running ``generate`` may
write anything), and the scores are comparable across methods. :func:`generation_check` runs
``generate`` on a sample to show how often free generation writes the same word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hwutils.core.errors import ConfigError


@dataclass(frozen=True)
class TextToTextTask:
    """The task's text format: an input prefix and one target word per class (in label order)."""

    prefix: str
    label_words: tuple[str, ...]

    def source(self, text: str) -> str:
        return f"{self.prefix}{text}"

    def target(self, label: int) -> str:
        return self.label_words[label]


def label_token_ids(tokenizer, label_words: Sequence[str]) -> list[int]:
    """The first token id of each label word (what the first decoder step scores); they must differ."""
    first = [tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in label_words]
    if len(set(first)) < len(first):
        raise ConfigError(f"label words {list(label_words)} start with the same token for this tokenizer; "
                          "choose words whose first tokens differ")
    return first


@dataclass
class EncodedSplit:
    """A tokenized split: source ids (truncated, ``</s>`` kept), target ids, class labels."""

    input_ids: list[list[int]]
    target_ids: list[list[int]]
    labels: np.ndarray
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Padded tensors for ``indices``: ``input_ids``, ``attention_mask`` and seq2seq ``labels``
        (target ids, padding set to -100 so the loss ignores it)."""
        sources = [self.input_ids[i] for i in indices]
        targets = [self.target_ids[i] for i in indices]
        width, target_width = max(map(len, sources)), max(map(len, targets))
        input_ids = torch.full((len(indices), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(indices), width), dtype=torch.long)
        labels = torch.full((len(indices), target_width), -100, dtype=torch.long)
        for row, (source, target) in enumerate(zip(sources, targets)):
            input_ids[row, : len(source)] = torch.tensor(source)
            attention_mask[row, : len(source)] = 1
            labels[row, : len(target)] = torch.tensor(target)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def source_lengths(self) -> np.ndarray:
        return np.array([len(ids) for ids in self.input_ids])


def encode_split(tokenizer, task: TextToTextTask, texts: Sequence[str], labels: Sequence[int],
                 max_length: int) -> EncodedSplit:
    """Tokenize ``texts`` as ``task.source(text)`` (at most ``max_length`` tokens) and their label words."""
    sources = tokenizer([task.source(t) for t in texts], truncation=True, max_length=max_length)["input_ids"]
    targets = tokenizer([task.target(int(y)) for y in labels])["input_ids"]
    return EncodedSplit(sources, targets, np.asarray(labels), tokenizer.pad_token_id)


class BatchStream:
    """``next_batch()`` for :func:`hwutils.core.training.train`: endless shuffled epochs of ``split``.

    Epoch ``e`` is a permutation drawn from a generator seeded with ``(seed, e)``, and the epochs are
    read back to back in ``batch_size`` steps, so batch ``k`` depends on the seed and ``k`` alone.
    ``position`` (batches drawn so far) is all the state there is: a run resumed at step ``k`` sets
    it to ``k`` and draws exactly the batches an uninterrupted run would have drawn.
    """

    def __init__(self, split: EncodedSplit, batch_size: int, seed: int):
        self.split, self.batch_size, self.seed = split, batch_size, seed
        self.position = 0
        self._orders: dict[int, list[int]] = {}

    def epoch_order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._orders = {epoch: torch.randperm(len(self.split), generator=generator).tolist(),
                            **{e: o for e, o in self._orders.items() if e == epoch - 1}}  # keep two epochs at most
        return self._orders[epoch]

    def indices(self, k: int) -> list[int]:
        """The examples of batch ``k`` (0-based)."""
        n = len(self.split)
        return [self.epoch_order(p // n)[p % n] for p in range(k * self.batch_size, (k + 1) * self.batch_size)]

    def __call__(self) -> dict[str, torch.Tensor]:
        batch = self.split.batch(self.indices(self.position))
        self.position += 1
        return batch


def seq2seq_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of the target words (the models' own ``labels=`` loss)."""
    # A copy of the mask: opendelta's soft prompt extends the mask it is given in place.
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"].clone(),
                 labels=batch["labels"]).loss


@torch.no_grad()
def label_scores(model, batch: dict[str, torch.Tensor], label_ids: Sequence[int],
                 decoder_start_token_id: int) -> torch.Tensor:
    """Scores (logits) of each label word's first token at the decoder's first step, ``(batch, classes)``."""
    input_ids = batch["input_ids"]
    start = torch.full((input_ids.shape[0], 1), decoder_start_token_id, dtype=torch.long, device=input_ids.device)
    logits = model(input_ids=input_ids, attention_mask=batch["attention_mask"].clone(), decoder_input_ids=start).logits
    return logits[:, 0, list(label_ids)]


def predict(model, split: EncodedSplit, label_ids: Sequence[int], decoder_start_token_id: int,
            batch_size: int = 64, limit: int | None = None) -> np.ndarray:
    """Predicted class of every example of ``split`` (or of its first ``limit``), by first-step scores."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n = len(split) if limit is None else min(limit, len(split))
    predictions = []
    for start in range(0, n, batch_size):
        batch = {k: v.to(device) for k, v in split.batch(range(start, min(start + batch_size, n))).items()}
        predictions.append(label_scores(model, batch, label_ids, decoder_start_token_id).argmax(-1).cpu())
    model.train(was_training)
    return torch.cat(predictions).numpy()


def accuracy(model, split: EncodedSplit, label_ids: Sequence[int], decoder_start_token_id: int,
             batch_size: int = 64, limit: int | None = None) -> float:
    """Share of correctly predicted examples (see :func:`predict`)."""
    predictions = predict(model, split, label_ids, decoder_start_token_id, batch_size, limit)
    return float(np.mean(predictions == split.labels[: len(predictions)]))


@torch.no_grad()
def generation_check(model, tokenizer, split: EncodedSplit, task: TextToTextTask, predictions: np.ndarray,
                     n: int, max_new_tokens: int = 4) -> dict[str, float]:
    """``generate`` (greedy) on the first ``n`` examples: how often it writes a label word at all, how
    often that word is the first-step prediction, and how often it is correct."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    batch = {k: v.to(device) for k, v in split.batch(range(min(n, len(split)))).items()}
    output = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"].clone(),
                            max_new_tokens=max_new_tokens, do_sample=False)
    model.train(was_training)
    words = [text.strip().rstrip(".") for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
    predicted_words = [task.label_words[p] for p in predictions[: len(words)]]
    gold_words = [task.label_words[y] for y in split.labels[: len(words)]]
    return {
        "examples": len(words),
        "label_word_rate": float(np.mean([w in task.label_words for w in words])),
        "agrees_with_scoring": float(np.mean([w == p for w, p in zip(words, predicted_words)])),
        "generate_accuracy": float(np.mean([w == g for w, g in zip(words, gold_words)])),
    }
