"""Smoke fixtures of notebook 09: Persian food-order comments, and a tiny Persian causal LM.

``snappfood_comments``
    Synthetic comments in the layout of the Hub's SnappFood sentiment set (columns ``comment`` and
    ``label`` with the strings ``HAPPY``/``SAD``; splits ``train``/``validation``/``test``: 2,000,
    300 and 400 rows, balanced). Half the comments have one clause ("the kebab was very fresh."),
    half are a **contrast**: "the rice was cold but the courier was great." The clause after
    ``ولی`` ("but") decides, and it always has the opposite polarity to the first, so every
    sentiment word occurs in both classes. **Difficulty**: seven words of each polarity, so a
    one-word rule ("contains WORD -> class") covers few comments and cannot decide a contrast: the
    best one scores about 55% on the test split (the notebook measures it; chance is 50%); even a
    whole bag of words only guesses the contrast half (at most about 75%), while reading which
    clause comes after "but" gives 100%. Neutral filler sentences and intensifiers ("خیلی") add
    noise; Arabic ``ي``/``ك`` are typed into about 5% of the comments, as real user text has them,
    for the normalisation to fix.

``tiny_persian_lm``
    A tiny ``Qwen2ForCausalLM`` (the full profile's architecture: grouped-query attention, QKV
    bias, tied embeddings; 2 layers, width 64, about 0.13 M parameters) with a byte-level BPE
    tokenizer trained on Persian fixture text (digits split one by one, as Qwen's tokenizer does;
    ZWNJ kept as its own token), saved with ``save_pretrained``. It is pre-trained for a few hundred
    steps (:func:`hwutils.core.fixtures.pretraining.pretrain`) on:

    * comments in the notebook's prompt layout under four **other** instructions: one asks for the
      sentiment (``مثبت``/``منفی``), and three reuse the same two words for something else (is the
      comment short? is it about the courier? a random label). So the model can read sentiment,
      but the words ``مثبت``/``منفی`` after ``پاسخ:`` are ambiguous unless the context says which
      question is asked; the notebook's own instruction is **not** among the four;
    * comments followed by what the customer will do ("I will order again"), plain language;
    * arithmetic word problems from :mod:`hwutils.persian.arithmetic` in the notebook's formats
      (direct answers; chains of thought, some after "let's think step by step"), from seeds the
      notebook does not use.

    Documents are drawn whole, in buckets of similar length (80% of the batches are sentiment
    documents). What it learns in seconds is limited and honest: it reads the sentiment of the
    comments well under the instruction it was trained with (about 90% of the test comments),
    and it writes answers and chains in the problems' formats, but its arithmetic is weak (it
    miscopies numbers), so the reasoning part of the smoke run tests the pipeline, not the
    method. RoPE uses theta 10,000 rather than Qwen2.5's 1,000,000: with the larger theta (slower
    rotations, a weaker sense of word order at these lengths) the tiny model did not learn the
    "but" rule in our trials.
"""

from __future__ import annotations

import random
from pathlib import Path

from hwutils.core.fixtures import fixture, write_dataset_splits
from hwutils.persian.arithmetic import generate_problems
from hwutils.persian.classification import SentimentPrompt
from hwutils.persian.reasoning import solved
from hwutils.persian.text import ZWNJ

LABELS = ("SAD", "HAPPY")  # the Hub's label strings; 0 = negative, 1 = positive in the notebook
ASPECTS = ["غذا", "پیتزا", "کباب", "برنج", "سالاد", "ساندویچ", "پیک", "بسته" + ZWNJ + "بندی", "نوشابه", "سس"]
POSITIVE = ["خوشمزه", "تازه", "داغ", "عالی", "تمیز", "خوب", "گرم"]
NEGATIVE = ["سرد", "شور", "بی" + ZWNJ + "مزه", "کهنه", "بد", "کثیف", "خراب"]
FILLER = ["سفارش را ظهر تحویل گرفتم.", "از این رستوران زیاد سفارش داده" + ZWNJ + "ام.", "امروز ناهار سفارش دادم.",
          "برای شام گرفته بودیم.", "با دوستانم سفارش دادیم.", "بار اول بود که از اینجا می" + ZWNJ + "خریدم."]
CONSEQUENCES = {1: ["دوباره سفارش می" + ZWNJ + "دهم.", "به دوستانم پیشنهاد می" + ZWNJ + "کنم."],
                0: ["دیگر سفارش نمی" + ZWNJ + "دهم.", "به کسی پیشنهاد نمی" + ZWNJ + "کنم."]}
LABEL_WORDS = ("منفی", "مثبت")  # the notebook's label words (negative, positive)
# The pre-training instructions. The first asks for the sentiment; the others reuse the label words.
PRETRAINING_TASKS = {
    "sentiment": ("حس مشتری را از نظرش بگو.", 0.4),  # "tell the customer's feeling from the comment"
    "short": ("آیا این نظر کوتاه است؟", 0.2),  # "is this comment short?"
    "courier": ("آیا این نظر درباره" + ZWNJ + "ی پیک است؟", 0.2),  # "is this comment about the courier?"
    "random": ("یک برچسب دلخواه بنویس.", 0.2),  # "write any label"
}
MODEL_SHAPE = dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=1024)
PRETRAIN = dict(steps=400, batch_size=16, lr=1e-2, seed=0, sentiment_share=0.8, vocab_size=600)
ARITHMETIC = dict(max_number=5, templates=["buy_and_give", "together"])
EOS = "<|endoftext|>"


def _clause(positive: bool, rng: random.Random) -> tuple[str, str]:
    aspect = rng.choice(ASPECTS)
    very = "خیلی " if rng.random() < 0.3 else ""
    return aspect, f"{aspect} {very}{rng.choice(POSITIVE if positive else NEGATIVE)} بود"


def food_comment(label: int, rng: random.Random) -> tuple[str, dict[str, int]]:
    """A comment of sentiment ``label`` (1 = positive) and two attributes of it (``short``,
    ``courier``) that the pre-training's other questions ask about."""
    aspect, decisive = _clause(label == 1, rng)
    aspects = [aspect]
    if rng.random() < 0.5:  # a contrast: the clause after "but" decides
        first_aspect, first = _clause(label != 1, rng)
        aspects.append(first_aspect)
        text = f"{first} ولی {decisive}."
    else:
        text = decisive + "."
    parts = [text] + rng.sample(FILLER, k=rng.choice([0, 0, 1]))
    rng.shuffle(parts)
    return " ".join(parts), {"short": int(len(parts) == 1 and "ولی" not in text), "courier": int("پیک" in aspects)}


def with_arabic_letters(text: str, rng: random.Random, rate: float = 0.05) -> str:
    """``text`` typed on an Arabic keyboard (``ي``, ``ك``) with probability ``rate``."""
    return text.replace("ی", "ي").replace("ک", "ك") if rng.random() < rate else text


def comments_split(n: int, seed: int):
    import datasets

    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    comments = [with_arabic_letters(food_comment(y, rng)[0], rng) for y in labels]
    return datasets.Dataset.from_dict({"comment": comments, "label": [LABELS[y] for y in labels]})


@fixture("snappfood_comments", version=1)
def build_snappfood_comments(folder: Path) -> None:
    """SnappFood-shaped Persian food-order comments (2,000 / 300 / 400), HAPPY/SAD, balanced."""
    write_dataset_splits(folder, {"train": comments_split(2000, seed=1), "validation": comments_split(300, seed=2),
                                  "test": comments_split(400, seed=3)},
                         "Synthetic Persian food-order comments in the layout of the SnappFood sentiment set "
                         "(comment, label: HAPPY/SAD). See hwutils/persian/fixtures.py for how they are made.")


# ---------------------------------------------------------------------------------------------
# The tiny Persian language model
# ---------------------------------------------------------------------------------------------


def sentiment_document(rng: random.Random) -> str:
    """A pre-training document: comments under one of the pre-training questions, or a comment
    followed by what the customer will do."""
    if rng.random() < 0.25:
        label = rng.randint(0, 1)
        return food_comment(label, rng)[0] + " " + rng.choice(CONSEQUENCES[label])
    names = list(PRETRAINING_TASKS)
    task = rng.choices(names, weights=[PRETRAINING_TASKS[t][1] for t in names])[0]
    prompt = SentimentPrompt(PRETRAINING_TASKS[task][0], LABEL_WORDS)
    demonstrations = []
    for _ in range(rng.randint(1, 3)):
        label = rng.randint(0, 1)
        text, attributes = food_comment(label, rng)
        answer = {"sentiment": label, "random": rng.randint(0, 1)}.get(task, attributes.get(task))
        demonstrations.append({"text": text, "label": answer})
    return prompt.instruction + "".join(prompt.body(d["text"], d["label"]) for d in demonstrations)


def arithmetic_document(problem, rng: random.Random) -> str:
    """A solved problem: a bare answer (30%) or a chain of thought, a third of them after "let's
    think step by step"."""
    if rng.random() < 0.3:
        return solved(problem, with_chain=False)
    return solved(problem, with_chain=True, step_by_step=rng.random() < 0.3)


def pretraining_documents(seed: int = 0) -> tuple[list[str], list[str]]:
    """(sentiment documents, arithmetic documents) of the pre-training corpus."""
    rng = random.Random(seed)
    sentiment = [sentiment_document(rng) for _ in range(6000)]
    problems = generate_problems(6000, seed=seed + 11, **ARITHMETIC)
    return sentiment, [arithmetic_document(p, rng) for p in problems]


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer like Qwen's (no BOS token, digits split one by one, ``<|endoftext|>``
    as end of text and padding) wrapped as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                       pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS, model_max_length=1024,
                                   model_input_names=["input_ids", "attention_mask"])


def length_buckets(lengths: list[int], indices: list[int], size: int) -> list[list[int]]:
    """``indices`` grouped ``size`` at a time by length, so a padded batch wastes little."""
    ordered = sorted(indices, key=lambda i: lengths[i])
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


@fixture("tiny_persian_lm", version=1)
def build_tiny_persian_lm(folder: Path) -> None:
    """A tiny Qwen2-shaped Persian causal LM (2 layers, width 64) pre-trained on fixture text, + BPE tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from hwutils.core.fixtures.pretraining import pretrain

    sentiment, arithmetic = pretraining_documents(PRETRAIN["seed"])
    documents = sentiment + arithmetic
    tokenizer = train_tokenizer(documents, PRETRAIN["vocab_size"])
    ids = [row + [tokenizer.eos_token_id] for row in tokenizer(documents)["input_ids"]]
    lengths = [len(row) for row in ids]
    groups = [length_buckets(lengths, list(range(len(sentiment))), PRETRAIN["batch_size"]),
              length_buckets(lengths, list(range(len(sentiment), len(documents))), PRETRAIN["batch_size"])]

    def next_batch(generator: torch.Generator):
        """A bucket of whole documents, right-padded; sentiment buckets with probability sentiment_share."""
        group = groups[0] if torch.rand((), generator=generator).item() < PRETRAIN["sentiment_share"] else groups[1]
        rows = group[torch.randint(len(group), (), generator=generator).item()]
        width = max(lengths[i] for i in rows)
        input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        labels = torch.full((len(rows), width), -100)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            input_ids[r, :lengths[i]] = labels[r, :lengths[i]] = torch.tensor(ids[i])
            mask[r, :lengths[i]] = 1
        return input_ids, mask, labels

    config = Qwen2Config(vocab_size=len(tokenizer), tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=10_000.0,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                         **MODEL_SHAPE)
    torch.manual_seed(PRETRAIN["seed"])
    model = Qwen2ForCausalLM(config)
    losses = pretrain(model, next_batch, lambda m, b: m(input_ids=b[0], attention_mask=b[1], labels=b[2]).loss,
                      steps=PRETRAIN["steps"], lr=PRETRAIN["lr"], seed=PRETRAIN["seed"], max_grad_norm=1.0)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    final = sum(losses[-50:]) / len(losses[-50:])
    (folder / "README.md").write_text(
        "# tiny_persian_lm\n\nA tiny Qwen2-shaped Persian causal LM built by `hwutils.persian.fixtures` for the smoke "
        f"profile of notebook 09: {sum(p.numel() for p in model.parameters()):,} parameters, vocabulary of "
        f"{len(tokenizer)} byte-level BPE tokens, pre-trained for {PRETRAIN['steps']} steps on fixture text "
        f"(mean loss of the last 50 steps {final:.3f}). See the module docstring for what it has seen.\n")
