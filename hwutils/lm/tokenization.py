"""Character, word and subword (BPE) tokenizers for a small corpus, and how they compare.

The character tokenizer is the one the nano language model uses; the word tokenizer and the BPE
(trained with the ``tokenizers`` library) exist to measure what that choice costs and buys.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

UNK = "\ufffd"  # stands for any character the tokenizer never saw


class CharTokenizer:
    """Maps each character seen in training text to an id; unseen characters map to ``UNK``."""

    def __init__(self, chars: Sequence[str]):
        self.chars = tuple(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, text: str) -> "CharTokenizer":
        return cls(sorted(set(text) - {UNK}) + [UNK])

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def unk_id(self) -> int:
        return self.index[UNK]

    def encode(self, text: str) -> list[int]:
        unk = self.unk_id
        return [self.index.get(c, unk) for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)


WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


def word_split(text: str) -> list[str]:
    """Words and single punctuation marks, the way a classic word-level model sees text."""
    return WORD_PATTERN.findall(text)


def train_bpe(text: str, vocab_size: int):
    """A byte-pair-encoding tokenizer (``tokenizers``) trained on ``text`` with a ``[UNK]`` token."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"], show_progress=False)
    tokenizer.train_from_iterator(text.splitlines(), trainer=trainer)
    return tokenizer


def compare_tokenizers(train_text: str, val_text: str, bpe_vocab_size: int) -> list[dict]:
    """Vocabulary size, tokens per line and unknown-token rate on ``val_text`` for each scheme.

    Every tokenizer is fitted on ``train_text`` only, so the unknown rate measures how each scheme
    copes with text it has not seen.
    """
    val_lines = [line for line in val_text.splitlines() if line.strip()]
    rows = []

    chars = CharTokenizer.fit(train_text)
    char_ids = [chars.encode(line) for line in val_lines]
    rows.append(_row("character", chars.vocab_size, char_ids, lambda i: i == chars.unk_id))

    vocabulary = set(Counter(word_split(train_text)))
    words = [word_split(line) for line in val_lines]
    rows.append(_row("word", len(vocabulary) + 1, words, lambda w: w not in vocabulary))

    bpe = train_bpe(train_text, bpe_vocab_size)
    bpe_tokens = [bpe.encode(line).tokens for line in val_lines]
    rows.append(_row("subword (BPE)", bpe.get_vocab_size(), bpe_tokens, lambda t: t == "[UNK]"))
    return rows


def _row(scheme: str, vocab_size: int, tokenized_lines: list[list], is_unknown) -> dict:
    n_tokens = sum(len(tokens) for tokens in tokenized_lines)
    n_unknown = sum(is_unknown(t) for tokens in tokenized_lines for t in tokens)
    return {
        "tokenizer": scheme,
        "vocab_size": vocab_size,
        "tokens_per_line": n_tokens / max(len(tokenized_lines), 1),
        "unknown_rate": n_unknown / max(n_tokens, 1),
    }


def temperature_analysis(rows: list[dict]) -> str:
    """Markdown on what temperature did to the samples, following the measured shares (``rows``
    from low to high temperature, with ``temperature``, ``known words`` and ``distinct words``)."""
    low, high = rows[0], rows[-1]
    known = [r["known words"] for r in rows]
    distinct = [r["distinct words"] for r in rows]
    known_falls = all(a >= b for a, b in zip(known, known[1:]))
    distinct_rises = all(a <= b for a, b in zip(distinct, distinct[1:]))
    measured = (f"From temperature {low['temperature']} to {high['temperature']}, the share of generated words that occur in the "
                f"training text went from {100 * low['known words']:.1f}% to {100 * high['known words']:.1f}% "
                f"({' → '.join(f'{100 * k:.1f}%' for k in known)}), and the share of distinct words from "
                f"{100 * low['distinct words']:.1f}% to {100 * high['distinct words']:.1f}%. ")
    if known_falls and distinct_rises:
        reading = ("That is what dividing the logits by the temperature predicts: a small temperature exaggerates the gaps between "
                   "the logits, so the model keeps choosing its favourite continuations (safe, correctly spelled, repetitive "
                   "text); a large one shrinks them, so unlikely characters are drawn more often (more varied text, with "
                   "misspellings and invented words). Temperature 1 samples the distribution the model learned.")
    else:
        reading = ("The usual expectation (fewer known words and more distinct words as the temperature rises, because dividing "
                   "the logits by a larger temperature flattens the distribution) does not hold at every step in this run: "
                   + ("the known-word share does not fall monotonically" if not known_falls else "")
                   + (" and " if not known_falls and not distinct_rises else "")
                   + ("the distinct-word share does not rise monotonically" if not distinct_rises else "")
                   + f"; with samples of {low['words']} to {high['words']} words, such shares are noisy.")
    return measured + reading
