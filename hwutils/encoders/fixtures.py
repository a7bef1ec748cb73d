"""``tiny_roberta``: a RoBERTa small enough for a CPU, saved like ``roberta-large`` on the Hub.

The smoke profile of notebook 02 loads it with the same ``from_pretrained`` calls as the real
checkpoint. It has what those calls expect: a ``RobertaForMaskedLM`` checkpoint (the classification
head is created fresh by ``AutoModelForSequenceClassification``, as for ``roberta-large``) and a
byte-level BPE tokenizer with RoBERTa's special tokens, trained with ``tokenizers`` on fixture text.

A randomly initialised body would give the frozen-base methods nothing to steer, so the builder
pre-trains it briefly with RoBERTa's own objective, masked-language modelling, through the fixtures'
one pre-training loop (:func:`~hwutils.core.fixtures.pretraining.pretrain`), on fixture text as the
classifiers will read it (:func:`pretraining_texts`): premise/hypothesis pairs encoded as pairs
(``<s> premise </s></s> hypothesis </s>``) and movie reviews. A masked word of a hypothesis is often
recoverable from its premise (the same person, usually the same item), which is how real pre-training
on running text teaches a model to relate sentences. It never sees a label: the pairs are drawn like
the dataset's and their labels thrown away, so what the notebook's fine-tuning measures is still
learned by the notebook.
"""

from __future__ import annotations

from pathlib import Path

import random

from hwutils.core.fixtures import fixture
from hwutils.core.fixtures.text_datasets import (ACTIONS, GENRES, MISMATCHED_ACTIONS, MISMATCHED_GENRES, fixture_sentences,
                                                 nli_pair, sentiment_review)

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, RoBERTa's own order
VOCAB_SIZE = 1000
ARCHITECTURE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                    max_position_embeddings=258,  # 256 positions + RoBERTa's padding offset of 2
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # dropout costs more than it helps here
PRETRAIN_STEPS = 1500
PRETRAIN_BATCH = 32
PRETRAIN_LR = 5e-3
PRETRAIN_TEXTS = 4000
MASKING = 0.3  # twice RoBERTa's 15%: more masked hypothesis words to recover from the premise in a brief pre-training
SEED = 0


def train_byte_level_bpe(sentences: list[str], folder: Path, vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE tokenizer (RoBERTa's scheme) trained on ``sentences``, saved in ``folder`` so
    that ``AutoTokenizer.from_pretrained(folder)`` returns a ``RobertaTokenizerFast``."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(sentences, vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                            show_progress=False)
    bpe.save_model(str(folder))  # vocab.json + merges.txt, the files RoBERTa's tokenizer reads
    tokenizer = RobertaTokenizerFast(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"),
                                     model_max_length=ARCHITECTURE["max_position_embeddings"] - 2)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def pretraining_texts(n: int = PRETRAIN_TEXTS, seed: int = SEED) -> list[str | tuple[str, str]]:
    """``n`` pieces of fixture text, alternating a premise/hypothesis pair (a tuple: it is encoded as a
    pair) and a movie review. Each pair is drawn like the NLI fixture's, with a random relation, and
    its label is not kept; a fifth of them use the mismatched genres' people and activities."""
    rng = random.Random(seed)
    texts: list[str | tuple[str, str]] = []
    for i in range(n):
        if i % 2:
            texts.append(sentiment_review(rng.randint(0, 1), rng))
            continue
        genres, actions = (GENRES, ACTIONS) if rng.random() < 0.8 else (MISMATCHED_GENRES, MISMATCHED_ACTIONS)
        people = genres[rng.choice(sorted(genres))]
        texts.append(nli_pair(rng.randint(0, 2), rng.choice(people), rng.choice(actions), rng))
    return texts


def masked_lm_batches(tokenizer, texts: list[str | tuple[str, str]], batch_size: int, max_length: int = 64,
                      masking: float = 0.15):
    """``next_batch(generator)`` for :func:`~hwutils.core.fixtures.pretraining.pretrain`: ``batch_size``
    texts (a tuple is encoded as a pair) drawn with ``generator``, ``masking`` of their tokens masked as
    RoBERTa's pre-training does (80% ``<mask>``, 10% a random token, 10% unchanged)."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    encoded = [tokenizer(*(text if isinstance(text, tuple) else (text,)), truncation=True, max_length=max_length)["input_ids"]
               for text in texts]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=masking, return_tensors="pt")

    def next_batch(generator):
        rows = torch.randint(len(encoded), (batch_size,), generator=generator).tolist()
        return collate([{"input_ids": encoded[i]} for i in rows])  # masks with torch's global RNG (seeded)

    return next_batch


def masked_lm_loss(model, batch):
    """Cross-entropy on the masked positions only, which are all that ``labels = -100`` leaves: the
    loss of ``RobertaForMaskedLM(..., labels=...)``, a third cheaper since only they reach the output layer."""
    from torch.nn import functional as F

    hidden = model.roberta(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    masked = batch["labels"] != -100
    return F.cross_entropy(model.lm_head(hidden[masked]), batch["labels"][masked])


@fixture("tiny_roberta", version=3)
def build_tiny_roberta(folder: Path) -> None:
    """A 2-layer, 64-wide RoBERTa (masked LM) briefly pre-trained on fixture pairs and reviews, with its BPE tokenizer."""
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM

    from hwutils.core.fixtures.pretraining import pretrain  # imported here: registering the builder needs no torch

    torch.manual_seed(SEED)
    sentences = fixture_sentences()
    tokenizer = train_byte_level_bpe(sentences, folder)
    config = RobertaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           type_vocab_size=1, layer_norm_eps=1e-5, **ARCHITECTURE)
    model = RobertaForMaskedLM(config)
    pretrain(model, masked_lm_batches(tokenizer, pretraining_texts(), PRETRAIN_BATCH, masking=MASKING), masked_lm_loss,
             steps=PRETRAIN_STEPS, lr=PRETRAIN_LR, seed=SEED)
    model.save_pretrained(str(folder))
