"""``tiny_roberta``: a RoBERTa small enough for a CPU, saved like ``roberta-large`` on the Hub.

The smoke profile of notebook 02 loads it with the same ``from_pretrained`` calls as the real
checkpoint. It has what those calls expect: a ``RobertaForMaskedLM`` checkpoint (the classification
head is created fresh by ``AutoModelForSequenceClassification``, as for ``roberta-large``) and a
byte-level BPE tokenizer with RoBERTa's special tokens, trained with ``tokenizers`` on fixture text.

A randomly initialised body would give prompt methods nothing to steer, so the builder pre-trains
it briefly with RoBERTa's own objective (masked-language modelling, 15% of the tokens) on
:func:`~hwutils.core.fixtures.text_datasets.fixture_sentences`, through the fixtures' one
pre-training loop (:func:`~hwutils.core.fixtures.pretraining.pretrain`). It never sees a label: what the
notebook's fine-tuning measures is still learned by the notebook.
"""

from __future__ import annotations

from pathlib import Path

from hwutils.core.fixtures import fixture
from hwutils.core.fixtures.text_datasets import fixture_sentences

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, RoBERTa's own order
VOCAB_SIZE = 1000
ARCHITECTURE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                    max_position_embeddings=258,  # 256 positions + RoBERTa's padding offset of 2
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # dropout costs more than it helps here
PRETRAIN_STEPS = 200
PRETRAIN_BATCH = 32
PRETRAIN_LR = 5e-3
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


def masked_lm_batches(tokenizer, sentences: list[str], batch_size: int, max_length: int = 48):
    """``next_batch(generator)`` for :func:`~hwutils.core.fixtures.pretraining.pretrain`: ``batch_size``
    sentences drawn with ``generator``, 15% of their tokens masked as RoBERTa's pre-training does."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    encoded = [tokenizer(s, truncation=True, max_length=max_length)["input_ids"] for s in sentences]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")

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


@fixture("tiny_roberta", version=2)
def build_tiny_roberta(folder: Path) -> None:
    """A 2-layer, 64-wide RoBERTa (masked LM) briefly pre-trained on fixture text, with its BPE tokenizer."""
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
    pretrain(model, masked_lm_batches(tokenizer, sentences, PRETRAIN_BATCH), masked_lm_loss,
             steps=PRETRAIN_STEPS, lr=PRETRAIN_LR, seed=SEED)
    model.save_pretrained(str(folder))
