"""Scoring a (composed) module: classification by label likelihood, perplexity, and an attribute of samples.

* :func:`label_log_likelihoods` reads a text-to-text classifier the way rank classification does:
  the log-probability the decoder gives each label word after the input; the prediction is the
  likeliest label, so every example gets a valid answer (no free-text parsing).
* :func:`perplexity` of a causal LM on a list of texts (every token of every text counted once).
* :func:`sample_texts` draws continuations of a prompt with a fixed seed, so two modules are
  compared on the same random draws; :func:`attribute_probabilities` scores them with a classifier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from hwutils.core.precision import Precision
from hwutils.composition.tasks import TextTask
from hwutils.composition.training import pad


@torch.no_grad()
def label_log_likelihoods(model, tokenizer, sources: Sequence[str], label_words: Sequence[str], *, batch_size: int,
                          max_length: int, precision: Precision) -> np.ndarray:
    """``log p(label word | source)`` for every source and label: shape (sources, labels). The encoder
    runs once per batch; the decoder once per label."""
    device = next(model.parameters()).device
    candidates = [tokenizer(word).input_ids for word in label_words]  # each ends with </s>
    scores = np.zeros((len(sources), len(label_words)))
    model.eval()
    for start in range(0, len(sources), batch_size):
        batch = tokenizer(list(sources[start:start + batch_size]), padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt").to(device)
        with precision.autocast():
            encoded = model.get_encoder()(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
            for j, ids in enumerate(candidates):
                labels = torch.tensor(ids, device=device).repeat(len(batch.input_ids), 1)
                logits = model(encoder_outputs=encoded, attention_mask=batch.attention_mask, labels=labels).logits
                log_probs = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
                scores[start:start + len(labels), j] = log_probs.sum(-1).cpu().numpy()
    return scores


def accuracy(model, tokenizer, task: TextTask, dataset, *, batch_size: int, max_length: int,
             precision: Precision) -> float:
    """Share of ``dataset`` whose likeliest label word is the true one."""
    rows = list(dataset)
    scores = label_log_likelihoods(model, tokenizer, [task.source(r) for r in rows], task.label_words,
                                   batch_size=batch_size, max_length=max_length, precision=precision)
    return float(np.mean(scores.argmax(axis=1) == np.array([r[task.label_column] for r in rows])))


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], *, batch_size: int, max_length: int, precision: Precision) -> float:
    """``exp`` of the mean negative log-likelihood per predicted token over ``texts`` (each text starts
    after ``<|endoftext|>``, so its first word is predicted too)."""
    device = next(model.parameters()).device
    bos = tokenizer.bos_token or tokenizer.eos_token
    total_nll, total_tokens = 0.0, 0
    model.eval()
    for start in range(0, len(texts), batch_size):
        ids = tokenizer([bos + t for t in texts[start:start + batch_size]], truncation=True, max_length=max_length)["input_ids"]
        batch = {k: v.to(device) for k, v in pad(ids, tokenizer.eos_token_id).items()}
        with precision.autocast():
            logits = model(**batch).logits.float()
        targets = batch["input_ids"][:, 1:]
        mask = batch["attention_mask"][:, 1:].bool()
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), targets, reduction="none")
        total_nll += nll[mask].sum().item()
        total_tokens += int(mask.sum())
    return math.exp(total_nll / max(total_tokens, 1))


@torch.no_grad()
def sample_texts(model, tokenizer, prompt: str, n: int, *, max_new_tokens: int, batch_size: int, seed: int,
                 precision: Precision, top_p: float = 1.0, temperature: float = 1.0) -> list[str]:
    """``n`` sampled continuations of ``prompt`` (after ``<|endoftext|>``), drawn with ``seed`` so that
    every module is judged on the same random numbers."""
    device = next(model.parameters()).device
    bos = tokenizer.bos_token or tokenizer.eos_token
    prompt_ids = tokenizer(bos + prompt, return_tensors="pt").input_ids.to(device)
    texts: list[str] = []
    model.eval()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            with precision.autocast():
                out = model.generate(input_ids=prompt_ids.expand(rows, -1), attention_mask=torch.ones_like(prompt_ids).expand(rows, -1),
                                     do_sample=True, top_k=0, top_p=top_p, temperature=temperature,
                                     max_new_tokens=max_new_tokens, pad_token_id=tokenizer.eos_token_id)
            texts += tokenizer.batch_decode(out[:, prompt_ids.shape[1]:], skip_special_tokens=True)
    return [prompt + t for t in texts]


@torch.no_grad()
def attribute_probabilities(classifier, tokenizer, texts: Sequence[str], attribute: str, *, batch_size: int,
                            max_length: int) -> np.ndarray:
    """The classifier's probability of label ``attribute`` (e.g. ``"toxicity"``) for each text: a
    sigmoid for multi-label classifiers (one independent probability per label), else a softmax."""
    label_id = classifier.config.label2id.get(attribute)
    if label_id is None:
        from hwutils.core.errors import ConfigError

        raise ConfigError(f"the classifier has no label {attribute!r}; its labels: {', '.join(classifier.config.label2id)}")
    multi_label = classifier.config.problem_type == "multi_label_classification" or \
        getattr(classifier.config, "function_to_apply", None) == "sigmoid"
    device = next(classifier.parameters()).device
    probabilities = []
    classifier.eval()
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt").to(device)
        logits = classifier(**batch).logits.float()
        p = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
        probabilities.append(p[:, label_id].cpu().numpy())
    return np.concatenate(probabilities) if probabilities else np.zeros(0)
