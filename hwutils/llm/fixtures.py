"""``tiny_llama``: a tiny Llama-3-shaped causal language model and its tokenizer, for the smoke profile.

The folder looks like a Hub checkpoint of ``meta-llama/Meta-Llama-3-8B``: ``config.json`` and
``model.safetensors`` from ``LlamaForCausalLM.save_pretrained`` (grouped-query attention, SwiGLU
MLP, RoPE with theta 500,000, untied embeddings, no pad token), and a byte-level BPE tokenizer
trained with ``tokenizers`` that adds ``<|begin_of_text|>`` in front of every text, as Llama-3's
does. ``AutoTokenizer`` / ``AutoModelForCausalLM`` load it, in 4-bit too.

So that in-context prompts have something to read, the model is pre-trained for a few seconds
(:func:`hwutils.core.fixtures.pretraining.pretrain`) on fixture text: sentences from
:func:`hwutils.core.fixtures.text_datasets.fixture_sentences` and prompts in the label-words and
yes/maybe/no styles of :mod:`hwutils.llm.prompts` whose answers are drawn **at random** (the
true/neither/false style is left out on purpose: its answer words stay several tokens long). It learns the
language, the prompt format and the answer words, but not which answer is right: what the
notebook's own fine-tuning achieves is then the notebook's doing.
"""

from __future__ import annotations

import random
from pathlib import Path

from hwutils.core.fixtures import fixture

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
VOCAB_SIZE = 640
MODEL_SHAPE = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=1024)
PRETRAIN = dict(steps=100, batch_size=8, block_size=64, lr=3e-3, seed=0)


def prompt_text(n: int, seed: int) -> list[str]:
    """``n`` prompts of both styles, zero- to three-shot, on fixture NLI pairs, with random answers."""
    from hwutils.core.fixtures.text_datasets import ACTIONS, GENRES, MISMATCHED_ACTIONS, MISMATCHED_GENRES, nli_pair
    from hwutils.llm.prompts import DEMONSTRATION_SEPARATOR, LABEL_WORDS, YES_MAYBE_NO

    rng = random.Random(seed)
    styles = [LABEL_WORDS, YES_MAYBE_NO]  # the fixture's own text: a style added later changes nothing here

    def random_pair() -> tuple[str, str]:
        genres, actions = (GENRES, ACTIONS) if rng.random() < 0.8 else (MISMATCHED_GENRES, MISMATCHED_ACTIONS)
        subject = rng.choice(genres[rng.choice(sorted(genres))])
        return nli_pair(rng.randint(0, 2), subject, rng.choice(actions), rng)

    texts = []
    for _ in range(n):
        style = rng.choice(styles)
        shots = [style.render(*random_pair(), label=rng.randint(0, 2)) for _ in range(rng.choice([0, 0, 1, 3]))]
        texts.append(DEMONSTRATION_SEPARATOR.join([*shots, style.render(*random_pair(), label=rng.randint(0, 2))]))
    return texts


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer (Llama-3's kind) wrapped as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, model_max_length=1024,
                                   model_input_names=["input_ids", "attention_mask"])  # as Llama-3's


@fixture("tiny_llama", version=2)
def build_tiny_llama(folder: Path) -> None:
    """A tiny Llama-3-shaped LlamaForCausalLM (2 layers, width 128) pre-trained on fixture text, + BPE tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from hwutils.core.fixtures.pretraining import pretrain
    from hwutils.core.fixtures.text_datasets import fixture_sentences

    texts = fixture_sentences(800, seed=7) + prompt_text(400, seed=8)
    tokenizer = train_tokenizer(texts, VOCAB_SIZE)
    config = LlamaConfig(vocab_size=len(tokenizer), rope_theta=500_000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **MODEL_SHAPE)
    torch.manual_seed(PRETRAIN["seed"])
    model = LlamaForCausalLM(config)

    # One stream of documents separated by end-of-text, cut into random windows (nanoGPT style).
    random.Random(PRETRAIN["seed"]).shuffle(texts)
    stream = torch.tensor([t for ids in tokenizer(texts)["input_ids"] for t in ids + [tokenizer.eos_token_id]])
    block = PRETRAIN["block_size"]

    def random_windows(generator: torch.Generator) -> torch.Tensor:
        starts = torch.randint(len(stream) - block, (PRETRAIN["batch_size"],), generator=generator)
        return torch.stack([stream[s:s + block] for s in starts.tolist()])

    losses = pretrain(model, random_windows, lambda m, batch: m(input_ids=batch, labels=batch).loss,
                      steps=PRETRAIN["steps"], lr=PRETRAIN["lr"], seed=PRETRAIN["seed"], max_grad_norm=1.0)
    model.generation_config.pad_token_id = None  # as on the Hub: Llama-3 has no pad token
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(
        "# tiny_llama\n\nA tiny Llama-3-shaped causal LM built by `hwutils.llm.fixtures` for the smoke profile: "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, pre-trained for {PRETRAIN['steps']} steps on "
        f"fixture text (final training loss {losses[-1]:.3f}). Prompts in its pre-training text carry random answers.\n")
