"""Smoke fixtures of notebook 07: tiny base models and small tasks whose signal composition can steer.

Every fixture is saved in the format of its full-profile counterpart, so the notebook's loading
code is the code that runs:

* ``pem_sentiment``: SST-2's layout (``sentence``, ``label`` negative/positive, ``idx``; splits
  ``train``/``validation``), movie reviews. A review has three opinion clauses; its label is the
  polarity of the **majority** of them, so no single word decides it: half the reviews are close
  calls (two clauses against one, "The plot was gripping. I found the acting awful. The ending was
  lovely." is positive). 6% of training labels are flipped. A LoRA module on the tiny T5 reaches
  about 80% in a hundred steps, not 100%, and one trained on a label-skewed half leans towards that
  half's majority label on the close calls: the bias that composition can cancel.
* ``pem_restaurants``: amazon_polarity's layout (``label``, ``title``, ``content``; ``train``/``test``):
  the same generator with restaurant aspects and partly different polarity words (``delicious``/
  ``bland`` besides the shared ``wonderful``/``awful``), the target domain of the analogy experiment.
* ``pem_comments``: civil_comments' layout (``text``, ``toxicity`` in [0, 1]; ``train``/
  ``validation``/``test``): neutral comments about local news, and one in four a rude comment
  (mild insults such as "clueless", "fool"), scored 0.8-1.0 against 0.0-0.2 for neutral ones.
* ``pem_neutral_text``: wikitext's layout (``text``; ``train``/``validation``/``test``): neutral
  encyclopedic sentences, the text whose perplexity unlearning must not ruin.
* ``pem_t5_tiny``: a 2+2-layer ``T5ForConditionalGeneration`` (d_model 64) and a T5-style BPE
  tokenizer trained with ``tokenizers``, pre-trained briefly (prefix language modelling, T5's
  "prefix LM" objective) on text of every fixture above, most reviews ending with a verdict
  sentence ("Verdict: positive."). It knows the words, how opinions add up and how sentences go
  on, never the task format ``review: ...`` -> ``positive``: what the modules learn is what the
  notebook measures (its zero-shot accuracy on that format is measured first).
* ``pem_gpt2_tiny``: a 2-layer ``GPT2LMHeadModel`` (width 64) and a byte-level BPE tokenizer,
  pre-trained on comments (a quarter rude, as in ``pem_comments``) and neutral sentences, so that
  its samples are rude at a base rate that a module can raise and its negation can lower.
* ``pem_toxicity_classifier``: a 2-layer ``RobertaForSequenceClassification`` with one sigmoid
  output named ``toxicity`` (as ``unitary/unbiased-toxic-roberta``'s first output), trained on
  ``pem_comments`` while it is built: the judge of experiment 3.

All builders are deterministic (seeded generators, one thread) and take seconds on a CPU.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

from hwutils.core.fixtures import fixture, write_dataset_splits
from hwutils.core.fixtures.pretraining import pretrain

# ---------------------------------------------------------------------------------------------
# Reviews: a label that needs the whole review
# ---------------------------------------------------------------------------------------------

SENTIMENT_NAMES = ["negative", "positive"]
SHARED_POSITIVE = ["wonderful", "great", "excellent", "lovely"]
SHARED_NEGATIVE = ["awful", "terrible", "poor", "disappointing"]
DOMAINS = {
    "movies": {
        "aspects": ["plot", "acting", "script", "soundtrack", "ending", "cast", "pacing", "dialogue"],
        "positive": ["gripping", "moving", "witty", "stunning"],
        "negative": ["boring", "predictable", "clumsy", "tedious"],
        "filler": ["I watched it on a Sunday.", "It runs for two hours.", "The cinema was almost empty.",
                   "My brother recommended it.", "It is based on a novel.", "I saw the sequel first."],
    },
    "restaurants": {
        "aspects": ["food", "service", "pasta", "dessert", "menu", "waiter", "soup", "coffee"],
        "positive": ["delicious", "tasty", "fresh", "friendly"],
        "negative": ["bland", "greasy", "stale", "rude"],
        "filler": ["We went there for lunch.", "It is near the station.", "The place was busy.",
                   "A friend booked the table.", "We paid by card.", "It opened last year."],
    },
}
CLAUSES = ["The {aspect} was {word}.", "I found the {aspect} {word}.", "Honestly, the {aspect} felt {word}.",
           "To me the {aspect} seemed {word}."]
CLOSE_CALL_SHARE = 0.5  # reviews whose clauses split two against one
TRAIN_LABEL_NOISE = 0.06


def review(label: int, domain: str, rng: random.Random) -> str:
    """A review of ``domain`` with three opinion clauses, the majority of which has polarity ``label``."""
    words = DOMAINS[domain]
    agreeing = 2 if rng.random() < CLOSE_CALL_SHARE else 3
    polarities = [label] * agreeing + [1 - label] * (3 - agreeing)
    rng.shuffle(polarities)
    clauses = []
    for polarity in polarities:
        pool = (SHARED_POSITIVE + words["positive"]) if polarity == 1 else (SHARED_NEGATIVE + words["negative"])
        clauses.append(rng.choice(CLAUSES).format(aspect=rng.choice(words["aspects"]), word=rng.choice(pool)))
    if rng.random() < 0.5:
        clauses.insert(rng.randint(0, len(clauses)), rng.choice(words["filler"]))
    return " ".join(clauses)


def review_rows(n: int, domain: str, seed: int, label_noise: float = 0.0) -> tuple[list[str], list[int]]:
    """``n`` balanced reviews of ``domain`` and their labels (a share ``label_noise`` flipped)."""
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    texts = [review(y, domain, rng) for y in labels]
    observed = [1 - y if rng.random() < label_noise else y for y in labels]
    return texts, observed


def _sentiment_dataset(texts: list[str], labels: list[int], text_column: str, with_idx: bool):
    import datasets

    columns = {text_column: datasets.Value("string"), "label": datasets.ClassLabel(names=SENTIMENT_NAMES)}
    rows = {text_column: texts, "label": labels}
    if with_idx:
        columns["idx"] = datasets.Value("int32")
        rows["idx"] = list(range(len(texts)))
    return datasets.Dataset.from_dict(rows, features=datasets.Features(columns))


@fixture("pem_sentiment", version=2)
def build_pem_sentiment(folder: Path) -> None:
    """SST-2-shaped movie reviews (4,000 train / 600 validation) labelled by their majority opinion."""
    train = review_rows(4000, "movies", seed=11, label_noise=TRAIN_LABEL_NOISE)
    validation = review_rows(600, "movies", seed=12)
    write_dataset_splits(folder, {"train": _sentiment_dataset(*train, "sentence", True),
                                  "validation": _sentiment_dataset(*validation, "sentence", True)},
                         "Synthetic movie reviews in SST-2's layout; the label is the majority of three opinion clauses.")


@fixture("pem_restaurants", version=3)
def build_pem_restaurants(folder: Path) -> None:
    """amazon_polarity-shaped restaurant reviews (2,000 train / 600 test): the analogy's target domain."""
    import datasets

    features = datasets.Features({"label": datasets.ClassLabel(names=SENTIMENT_NAMES), "title": datasets.Value("string"),
                                  "content": datasets.Value("string")})
    splits = {}
    for name, n, seed, noise in (("train", 2000, 21, TRAIN_LABEL_NOISE), ("test", 600, 22, 0.0)):
        texts, labels = review_rows(n, "restaurants", seed, label_noise=noise)
        splits[name] = datasets.Dataset.from_dict({"label": labels, "title": ["Dinner"] * n, "content": texts}, features=features)
    write_dataset_splits(folder, splits, "Synthetic restaurant reviews in amazon_polarity's layout (label, title, content).")


# ---------------------------------------------------------------------------------------------
# Comments (civil_comments' layout) and neutral text (wikitext's layout)
# ---------------------------------------------------------------------------------------------

TOPICS = ["bridge", "library", "school", "park", "budget", "election", "bus line", "harbour", "museum", "market"]
NEUTRAL_COMMENTS = ["I think the {topic} plan makes sense.", "Thanks for sharing this article about the {topic}.",
                    "Does anyone know when the {topic} meeting starts?", "The {topic} report was published on {day}.",
                    "My family has used the {topic} for years.", "I hope the council discusses the {topic} again.",
                    "The photos of the {topic} are beautiful.", "We visited the {topic} on {day} with friends."]
RUDE_COMMENTS = ["You are a {insult} {person}.", "Only a {insult} {person} would write this about the {topic}.",
                 "What a {insult} comment, you {person}.", "Stop posting about the {topic}, you {insult} {person}.",
                 "Nobody cares what a {insult} {person} thinks of the {topic}."]
INSULTS = ["stupid", "pathetic", "clueless", "ridiculous", "worthless", "dumb"]
PERSONS = ["fool", "clown", "loser", "troll", "hypocrite"]
DAYS = ["Monday", "Tuesday", "Friday", "Sunday"]
RUDE_SHARE = 0.25
ENCYCLOPEDIA = ["The {place} is a {kind} in the north of the {region}.", "The {place} was built in the {century} century.",
                "Its {kind} is known for the {thing} found nearby.", "The {region} has a mild climate and long summers.",
                "Most visitors reach the {place} by train from the {region}.", "The {thing} of the {place} was restored in {year}."]
PLACES = ["old mill", "river port", "stone tower", "valley town", "northern lake", "castle hill"]
KINDS = ["village", "landmark", "harbour", "town", "site"]
REGIONS = ["province", "coast", "lowlands", "highlands"]
THINGS = ["bell", "garden", "bridge", "chapel", "market hall"]


def comment(rude: bool, rng: random.Random) -> str:
    template = rng.choice(RUDE_COMMENTS if rude else NEUTRAL_COMMENTS)
    return template.format(topic=rng.choice(TOPICS), day=rng.choice(DAYS), insult=rng.choice(INSULTS),
                           person=rng.choice(PERSONS))


def comment_rows(n: int, seed: int) -> tuple[list[str], list[float]]:
    """``n`` comments, a share ``RUDE_SHARE`` rude, with a toxicity score as civil_comments has."""
    rng = random.Random(seed)
    texts, scores = [], []
    for _ in range(n):
        rude = rng.random() < RUDE_SHARE
        texts.append(comment(rude, rng))
        scores.append(round(rng.uniform(0.8, 1.0) if rude else rng.uniform(0.0, 0.2), 3))
    return texts, scores


def encyclopedia_sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(ENCYCLOPEDIA).format(place=rng.choice(PLACES), kind=rng.choice(KINDS), region=rng.choice(REGIONS),
                                            thing=rng.choice(THINGS), century=rng.choice(["twelfth", "sixteenth", "nineteenth"]),
                                            year=rng.randint(1900, 2010)) for _ in range(n)]


@fixture("pem_comments", version=1)
def build_pem_comments(folder: Path) -> None:
    """civil_comments-shaped comments (a quarter rude, toxicity 0.8-1.0; the rest 0.0-0.2)."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "toxicity": datasets.Value("float32")})
    splits = {}
    for name, n, seed in (("train", 3000, 31), ("validation", 400, 32), ("test", 400, 33)):
        texts, scores = comment_rows(n, seed)
        splits[name] = datasets.Dataset.from_dict({"text": texts, "toxicity": scores}, features=features)
    write_dataset_splits(folder, splits, "Synthetic comments in civil_comments' layout (text, toxicity).")


@fixture("pem_neutral_text", version=1)
def build_pem_neutral_text(folder: Path) -> None:
    """wikitext-shaped neutral encyclopedic sentences (one per row, with empty rows as wikitext has)."""
    import datasets

    splits = {}
    for name, n, seed in (("train", 800, 41), ("validation", 200, 42), ("test", 200, 43)):
        rows = []
        for sentence in encyclopedia_sentences(n, seed):
            rows += [sentence, ""] if random.Random(sentence).random() < 0.2 else [sentence]
        splits[name] = datasets.Dataset.from_dict({"text": rows}, features=datasets.Features({"text": datasets.Value("string")}))
    write_dataset_splits(folder, splits, "Synthetic encyclopedic sentences in wikitext's layout (text).")


# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------


def t5_style_tokenizer(texts: list[str], vocab_size: int):
    """A T5-like tokenizer: BPE with a "▁" word-boundary marker, ``</s>`` appended, ``<pad>``/``</s>``/``<unk>`` = 0/1/2."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], show_progress=False,
                                  initial_alphabet=list(string.ascii_letters + string.digits + string.punctuation))
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                             special_tokens=[("</s>", tokenizer.token_to_id("</s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512, model_input_names=["input_ids", "attention_mask"])


def byte_level_tokenizer(texts: list[str], vocab_size: int, special_tokens: list[str], template: str | None = None,
                         **named_tokens: str):
    """A byte-level BPE (GPT-2's and RoBERTa's kind); ``template`` (e.g. ``"<s> $A </s>"``) adds special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                                             show_progress=False,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if template:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, tokenizer.token_to_id(t)) for t in special_tokens if t in template])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=512,
                                   model_input_names=["input_ids", "attention_mask"], **named_tokens)


# ---------------------------------------------------------------------------------------------
# Tiny base models, pre-trained briefly with the core's pre-training loop
# ---------------------------------------------------------------------------------------------

TINY_T5 = {"d_model": 64, "d_ff": 128, "d_kv": 16, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2,
           "dropout_rate": 0.0, "feed_forward_proj": "relu", "relative_attention_num_buckets": 16}
T5_PRETRAIN = {"steps": 250, "batch_size": 32, "lr": 5e-3, "max_source_length": 48, "max_target_length": 24}
TINY_GPT2 = {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 64, "resid_pdrop": 0.0, "embd_pdrop": 0.0,
             "attn_pdrop": 0.0}
GPT2_PRETRAIN = {"steps": 300, "batch_size": 32, "lr": 5e-3}
CLASSIFIER_TRAIN = {"steps": 150, "batch_size": 32, "lr": 3e-3}


VERDICTS = ["Verdict: {word}.", "Overall: {word}.", "In short, {word}."]
VERDICT_WORDS = {"negative", "positive", "entailment", "neutral", "contradiction"}


def pretraining_text(seed: int = 0) -> list[str]:
    """What the tiny T5 reads while it is pre-trained: every kind of fixture text, and reviews of both
    domains of which most end with a verdict sentence ("Verdict: positive."), as reviews with star
    ratings do on the web. The verdict is the review's majority opinion, so the base model learns
    how opinions add up, but never the notebook's task format ``review: <text>`` -> ``positive``."""
    rng = random.Random(seed)
    texts = []
    for domain, offset in (("movies", 0), ("restaurants", 1)):
        for text, label in zip(*review_rows(1500, domain, seed + offset)):
            verdict = rng.choice(VERDICTS).format(word=SENTIMENT_NAMES[label])
            texts.append(f"{text} {verdict}" if rng.random() < 0.7 else text)
    texts += comment_rows(600, seed + 2)[0] + encyclopedia_sentences(300, seed + 3)
    return texts + inference_text(1500, seed + 4, rng)


def inference_text(n: int, seed: int, rng: random.Random) -> list[str]:
    """Premise/hypothesis pairs of the core's ``nli_pairs`` grammar (the second task of the notebook),
    most followed by the relation between them ("Relation: contradiction.")."""
    from hwutils.core.fixtures.text_datasets import ACTIONS, GENRES, NLI_LABELS, nli_pair

    pairs_rng = random.Random(seed)
    texts = []
    for _ in range(n):
        label = pairs_rng.randint(0, 2)
        genre = pairs_rng.choice(sorted(GENRES))
        premise, hypothesis = nli_pair(label, pairs_rng.choice(GENRES[genre]), pairs_rng.choice(ACTIONS), pairs_rng)
        relation = f" Relation: {NLI_LABELS[label]}." if rng.random() < 0.7 else ""
        texts.append(f"{premise} {hypothesis}{relation}")
    return texts


def prefix_lm_pair(text: str, rng: random.Random) -> tuple[str, str]:
    """T5's prefix-LM objective: the start of ``text`` (input) and its continuation (target), cut at a random word."""
    words = text.split()
    if words[-1].rstrip(".") in VERDICT_WORDS and rng.random() < 0.5:  # often just before the verdict word
        cut = len(words) - 1
    else:
        cut = rng.randint(1, max(1, len(words) - 1))
    return " ".join(words[:cut]), " ".join(words[cut:])


@fixture("pem_t5_tiny", version=4)
def build_pem_t5_tiny(folder: Path) -> None:
    """A tiny T5 (2+2 layers, d_model 64) and its tokenizer, pre-trained as a prefix LM on fixture text."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    texts = pretraining_text(seed=0)
    tokenizer = t5_style_tokenizer(texts + SENTIMENT_NAMES, vocab_size=700)
    config = T5Config(vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **TINY_T5)
    sampler = random.Random(0)

    def next_batch(generator: torch.Generator):
        picks = torch.randint(len(texts), (T5_PRETRAIN["batch_size"],), generator=generator).tolist()
        sources, targets = zip(*(prefix_lm_pair(texts[i], sampler) for i in picks))
        batch = tokenizer(list(sources), padding=True, truncation=True, max_length=T5_PRETRAIN["max_source_length"],
                          return_tensors="pt")
        labels = tokenizer(list(targets), padding=True, truncation=True, max_length=T5_PRETRAIN["max_target_length"],
                           return_tensors="pt").input_ids
        batch["labels"] = labels.masked_fill(labels == tokenizer.pad_token_id, -100)
        return batch

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(config)
        losses = pretrain(model, next_batch, lambda m, batch: m(**batch).loss, steps=T5_PRETRAIN["steps"],
                          lr=T5_PRETRAIN["lr"], seed=0, max_grad_norm=1.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _write_card(folder, "prefix language modelling on fixture text (most reviews end with a verdict)", T5_PRETRAIN, losses)


def gpt2_pretraining_text(seed: int = 0) -> list[str]:
    """Comments (a quarter rude) and encyclopedic sentences: the tiny GPT-2's pre-training documents."""
    return comment_rows(2400, seed)[0] + encyclopedia_sentences(800, seed + 1)


@fixture("pem_gpt2_tiny", version=1)
def build_pem_gpt2_tiny(folder: Path) -> None:
    """A tiny GPT-2 (2 layers, width 64) and its byte-level BPE, pre-trained on comments and neutral text."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    documents = gpt2_pretraining_text(seed=0)
    tokenizer = byte_level_tokenizer(documents, 600, ["<|endoftext|>"], bos_token="<|endoftext|>",
                                     eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=eos, eos_token_id=eos, **TINY_GPT2)
    block = TINY_GPT2["n_positions"]

    def next_batch(generator: torch.Generator):  # one document per row, starting after <|endoftext|> as GPT-2 does
        picks = torch.randint(len(documents), (GPT2_PRETRAIN["batch_size"],), generator=generator).tolist()
        rows = [([eos] + tokenizer(documents[i]).input_ids + [eos])[:block] for i in picks]
        width = max(map(len, rows))
        ids = torch.tensor([r + [eos] * (width - len(r)) for r in rows])
        labels = torch.tensor([r + [-100] * (width - len(r)) for r in rows])
        return ids, labels

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config)
        losses = pretrain(model, next_batch, lambda m, batch: m(input_ids=batch[0], labels=batch[1]).loss,
                          steps=GPT2_PRETRAIN["steps"], lr=GPT2_PRETRAIN["lr"], seed=0, max_grad_norm=1.0)
    model.generation_config.pad_token_id = eos
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _write_card(folder, "causal language modelling on comments (a quarter rude) and neutral sentences", GPT2_PRETRAIN, losses)


@fixture("pem_toxicity_classifier", version=1)
def build_pem_toxicity_classifier(folder: Path) -> None:
    """A tiny RoBERTa classifier with one sigmoid output ``toxicity``, trained on fixture comments."""
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    texts, scores = comment_rows(3000, seed=51)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = byte_level_tokenizer(texts + encyclopedia_sentences(300, 52), 600, specials, template="<s> $A </s>",
                                     bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                     mask_token="<mask>", cls_token="<s>", sep_token="</s>")
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=128, max_position_embeddings=80, pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, num_labels=1,
                           id2label={0: "toxicity"}, label2id={"toxicity": 0}, problem_type="multi_label_classification",
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

    def next_batch(generator: torch.Generator):
        picks = torch.randint(len(texts), (CLASSIFIER_TRAIN["batch_size"],), generator=generator).tolist()
        batch = tokenizer([texts[i] for i in picks], padding=True, return_tensors="pt")
        batch["labels"] = torch.tensor([[float(scores[i] >= 0.5)] for i in picks])
        return batch

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = RobertaForSequenceClassification(config)
        losses = pretrain(model, next_batch, lambda m, batch: m(**batch).loss, steps=CLASSIFIER_TRAIN["steps"],
                          lr=CLASSIFIER_TRAIN["lr"], seed=0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _write_card(folder, "binary cross-entropy on fixture comments (toxicity >= 0.5)", CLASSIFIER_TRAIN, losses)


def _write_card(folder: Path, objective: str, recipe: dict, losses: list[float]) -> None:
    tail = losses[-20:]
    (folder / "pretraining.json").write_text(json.dumps(
        {"objective": objective, **recipe, "first_loss": losses[0], "last_loss": sum(tail) / len(tail)}, indent=2))
