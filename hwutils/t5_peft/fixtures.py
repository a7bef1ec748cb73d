"""A tiny T5 for the smoke profile, and the real t5-small configuration for offline counting.

* ``t5_tiny``: a 2+2-layer T5 (``T5ForConditionalGeneration``, d_model 64) with a BPE
  tokenizer trained with ``tokenizers`` on fixture text, both saved with ``save_pretrained``, so
  that ``AutoTokenizer`` / ``T5ForConditionalGeneration.from_pretrained(folder)`` load them exactly
  as they load ``t5-small`` from the Hub. While the fixture is built, the model is briefly
  pre-trained as a *prefix language model* (T5's "prefix LM" objective: the encoder reads the start
  of a text, the decoder writes its continuation) on **generic fixture text** only: the sentences of
  ``fixture_sentences()`` (reviews and premise/hypothesis pairs) and more reviews, as plain text,
  with the one pre-training loop of every fixture model
  (:func:`hwutils.core.fixtures.pretraining.pretrain`). It never reads a label, a verdict or the
  label words: its tokenizer holds "positive" and "negative" as whole words (as t5-small's does),
  but the model has never been trained to write them. Whatever the notebook's methods reach above
  chance on ``"sentiment: <review>"`` -> ``positive``/``negative`` is their own training's doing.
* ``t5_small_config``: the ``config.json`` of ``t5-small`` (values copied from the Hub's
  ``google-t5/t5-small/config.json``), so the real architecture can be built on the meta device and
  its parameters counted without network access.
"""

from __future__ import annotations

import random
from pathlib import Path

from hwutils.core.fixtures import fixture

# t5-small's config.json (https://huggingface.co/google-t5/t5-small/blob/main/config.json), without its
# `task_specific_params` (generation prefixes for summarisation and translation). 60,506,624 parameters.
T5_SMALL_CONFIG = {
    "architectures": ["T5ForConditionalGeneration"],
    "d_ff": 2048,
    "d_kv": 64,
    "d_model": 512,
    "decoder_start_token_id": 0,
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "relu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "layer_norm_epsilon": 1e-06,
    "model_type": "t5",
    "n_positions": 512,
    "num_heads": 8,
    "num_layers": 6,
    "output_past": True,
    "pad_token_id": 0,
    "relative_attention_num_buckets": 32,
    "vocab_size": 32128,
}

# The tiny model: t5-small's design (ReLU feed-forward, relative position buckets, tied embeddings)
# at a size that trains in seconds on a CPU.
TINY_T5 = {"d_model": 64, "d_ff": 128, "d_kv": 16, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2,
           "dropout_rate": 0.0, "feed_forward_proj": "relu", "relative_attention_num_buckets": 16}
SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2 as in T5's vocabulary
LABEL_WORDS = ("negative", "positive")  # notebook 01's label words: whole tokens of the vocabulary, never in the text
VOCAB_SIZE = 512
# Pre-training by hwutils.core.fixtures.pretraining.pretrain (AdamW, one-cycle schedule: the peak
# learning rate is reached after 10% of the steps and decays to ~0 by the last step). The peak rate
# was chosen among 1e-3, 3e-3 and 1e-2 (600 steps each) by the prefix-LM loss on held-out fixture
# text (1.67, 1.06, 1.17): a criterion of the pre-training itself, not of the notebook's results.
PRETRAIN = {"extra_reviews": 1500, "steps": 600, "batch_size": 32, "lr": 3e-3, "max_source_length": 48,
            "max_target_length": 12, "held_out_texts": 400, "held_out_batches": 6}


def plain_reviews(n: int, seed: int) -> list[str]:
    """``n`` fixture movie reviews as plain text (each says its opinion; no label is kept)."""
    from hwutils.core.fixtures.text_datasets import sentiment_review

    rng = random.Random(seed)
    return [sentiment_review(rng.randint(0, 1), rng) for _ in range(n)]


def pretraining_texts(seed: int = 0) -> list[str]:
    """The tiny T5's pre-training text: fixture sentences and more reviews, nothing else."""
    from hwutils.core.fixtures.text_datasets import fixture_sentences

    return fixture_sentences(seed=seed) + plain_reviews(PRETRAIN["extra_reviews"], seed + 1)


def held_out_texts(seed: int = 99) -> list[str]:
    """Fixture sentences drawn with another seed, to measure the pre-training's held-out loss."""
    from hwutils.core.fixtures.text_datasets import fixture_sentences

    return fixture_sentences(n=PRETRAIN["held_out_texts"], seed=seed)


def tokenizer_texts(texts: list[str]) -> list[str]:
    """What the tokenizer is trained on: the pre-training text plus the label words, repeated so that
    byte-pair merges make each a whole token (the model itself never reads these lines)."""
    return texts + [" ".join(LABEL_WORDS)] * 100


def train_t5_tokenizer(texts: list[str], vocab_size: int):
    """A T5-style tokenizer trained on ``texts`` with the ``tokenizers`` library: subwords with a "▁"
    word-boundary marker, punctuation split off, ``</s>`` appended, ``<pad>``/``</s>``/``<unk>`` = 0/1/2.

    T5's own tokenizer is a SentencePiece Unigram model; on a corpus this small, byte-pair encoding
    gives the cleaner vocabulary (whole words for everything frequent). Every printable ASCII
    character is in the alphabet, so any English text can be encoded.
    """
    import string

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=list(string.ascii_letters + string.digits + string.punctuation))
    tokenizer.train_from_iterator(texts, trainer=trainer)
    eos = SPECIAL_TOKENS[1]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, tokenizer.token_to_id(eos))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512, model_input_names=["input_ids", "attention_mask"])


def prefix_lm_example(text: str, generator) -> tuple[str, str]:
    """T5's prefix-LM objective: (start of a text, its continuation), split at a random word drawn
    with the torch ``generator``."""
    import torch

    words = text.split()
    cut = int(torch.randint(1, len(words), (1,), generator=generator))
    return " ".join(words[:cut]), " ".join(words[cut:])


def prefix_lm_batches(tokenizer, texts: list[str], batch_size: int, max_source_length: int, max_target_length: int):
    """``next_batch(generator)`` for :func:`hwutils.core.fixtures.pretraining.pretrain`: ``batch_size``
    texts drawn without replacement, each split by :func:`prefix_lm_example` and tokenized."""
    import torch

    def next_batch(generator):
        picks = torch.randperm(len(texts), generator=generator)[:batch_size].tolist()
        sources, targets = zip(*(prefix_lm_example(texts[i], generator) for i in picks))
        batch = tokenizer(list(sources), padding=True, truncation=True, max_length=max_source_length,
                          return_tensors="pt")
        labels = tokenizer(list(targets), padding=True, truncation=True, max_length=max_target_length,
                           return_tensors="pt").input_ids
        batch["labels"] = labels.masked_fill(labels == tokenizer.pad_token_id, -100)
        return batch

    return next_batch


def seq2seq_loss(model, batch):
    """The model's own cross-entropy of the continuation (``labels=``)."""
    return model(**batch).loss


def held_out_loss(model, tokenizer) -> float:
    """Mean prefix-LM loss on :func:`held_out_texts` (fixed cuts, seeded): how well pre-training went."""
    import torch

    next_batch = prefix_lm_batches(tokenizer, held_out_texts(), 64, PRETRAIN["max_source_length"],
                                   PRETRAIN["max_target_length"])
    generator = torch.Generator().manual_seed(5)
    model.eval()
    with torch.no_grad():
        losses = [seq2seq_loss(model, next_batch(generator)).item() for _ in range(PRETRAIN["held_out_batches"])]
    return sum(losses) / len(losses)


@fixture("t5_tiny", version=3)
def build_t5_tiny(folder: Path) -> None:
    """A tiny T5 (2+2 layers, d_model 64) and its BPE tokenizer, briefly pre-trained on generic fixture text."""
    import json

    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from hwutils.core.fixtures.pretraining import pretrain

    texts = pretraining_texts(seed=0)
    tokenizer = train_t5_tokenizer(tokenizer_texts(texts), VOCAB_SIZE)
    for word in LABEL_WORDS:  # the notebooks score label words by their first token: keep them whole
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, f"{word!r} is not one token"
    config = T5Config(vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **TINY_T5)
    next_batch = prefix_lm_batches(tokenizer, texts, PRETRAIN["batch_size"], PRETRAIN["max_source_length"],
                                   PRETRAIN["max_target_length"])
    with torch.random.fork_rng():  # leave the caller's random state alone
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(config)
        losses = pretrain(model, next_batch, seq2seq_loss, steps=PRETRAIN["steps"], lr=PRETRAIN["lr"], seed=0)
        held_out = held_out_loss(model, tokenizer)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "pretraining.json").write_text(json.dumps(
        {"objective": "prefix language modelling on generic fixture text (no labels, no verdicts)", **PRETRAIN,
         "texts": len(texts), "first_loss": losses[0], "last_loss": sum(losses[-20:]) / 20,
         "held_out_loss": held_out}, indent=2))


@fixture("t5_small_config", version=1)
def build_t5_small_config(folder: Path) -> None:
    """t5-small's ``config.json`` (no weights): the real architecture, for counting parameters offline."""
    from transformers import T5Config

    T5Config(**T5_SMALL_CONFIG).save_pretrained(folder)


def random_t5(seed: int = 0, **overrides):
    """A randomly initialised T5 of the tiny fixture's shape (vocabulary 128 unless overridden), built
    in milliseconds without a tokenizer or pre-training: for unit tests of code that modifies T5."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    values = {**TINY_T5, "vocab_size": 128, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0, **overrides}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return T5ForConditionalGeneration(T5Config(**values)).eval()
