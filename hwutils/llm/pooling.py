"""Reading one vector per sequence out of a causal (decoder-only) model.

In a causal model, position ``t`` attends only to positions ``<= t``: the **last** real token is
the only one whose state has seen the whole input, so a classification head must read it
(``LlamaForSequenceClassification`` does, finding the last token that is not the pad token). The
**first** token has seen nothing but itself; with Llama's begin-of-text token in front of every
input, its state is the same for every example, so a head reading it predicts one class for all.
"""

from __future__ import annotations

from typing import Any

import torch


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real (mask = 1) token of each row, for right *and* left padding."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(dim=1)


def pool_last_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``hidden[b, last real token of b]``: (batch, sequence, features) -> (batch, features)."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_token_index(attention_mask).to(hidden.device)]


def pool_first_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``hidden[b, first real token of b]`` (BERT's [CLS] habit, wrong for a causal model)."""
    first = attention_mask.long().argmax(dim=1)  # the first 1 of each row
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, first.to(hidden.device)]


def set_pad_token(tokenizer: Any, model: Any = None) -> str:
    """Llama ships without a pad token: use end-of-text for padding (it is masked out anyway), and
    tell the model, which finds each sequence's last real token by looking for the pad id.
    Returns a sentence saying what was done."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        done = f"pad token set to the end-of-text token {tokenizer.eos_token!r} (id {tokenizer.pad_token_id})"
    else:
        done = f"pad token {tokenizer.pad_token!r} (id {tokenizer.pad_token_id}) already set"
    if model is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
    return done


@torch.no_grad()
def pooled_features(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 32,
                    desc: str = "features") -> dict[str, torch.Tensor]:
    """Final-layer hidden states of ``texts`` pooled at the first and at the last real token."""
    from hwutils.core.progress import progress

    device = next(model.parameters()).device
    first, last = [], []
    for start in progress(range(0, len(texts), batch_size), desc=desc):
        batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True).to(device)
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1].float()
        first.append(pool_first_token(hidden, batch["attention_mask"]).cpu())
        last.append(pool_last_token(hidden, batch["attention_mask"]).cpu())
    return {"first": torch.cat(first), "last": torch.cat(last)}


@torch.no_grad()
def head_logits_by_position(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 32,
                            head_name: str = "score", desc: str = "head logits") -> dict[str, torch.Tensor]:
    """A sequence-classification model's head read at the first and at the last real token.

    ``LlamaForSequenceClassification`` applies its head (``score``) to every position and then keeps
    one; a forward hook on the head captures all positions. ``"model"`` is what the model itself
    returns, which should equal ``"last"``.
    """
    from hwutils.core.progress import progress

    head = next(m for n, m in model.named_modules() if n.split(".")[-1] == head_name)  # outermost match
    captured: list[torch.Tensor] = []
    handle = head.register_forward_hook(lambda module, args, output: captured.append(output))
    device = next(model.parameters()).device
    pooled: dict[str, list[torch.Tensor]] = {"first": [], "last": [], "model": []}
    try:
        for start in progress(range(0, len(texts), batch_size), desc=desc):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True).to(device)
            captured.clear()
            pooled["model"].append(model(**batch).logits.float().cpu())
            every_position = captured[-1].float()
            pooled["first"].append(pool_first_token(every_position, batch["attention_mask"]).cpu())
            pooled["last"].append(pool_last_token(every_position, batch["attention_mask"]).cpu())
    finally:
        handle.remove()
    return {key: torch.cat(values) for key, values in pooled.items()}


def linear_probes(train_features: dict[str, torch.Tensor], train_labels: list[int],
                  test_features: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """A logistic regression (on standardised features) per pooling, fitted on the training
    features and read on the test features: ``{pooling: {"predicted", "feature_spread"}}``.

    The *feature spread* is the largest difference between any test example's features and the
    first one's: zero means every example looks the same to the probe.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probes = {}
    for pool, features in train_features.items():
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(features.numpy(), list(train_labels))
        test = test_features[pool]
        probes[pool] = {"predicted": probe.predict(test.numpy()), "feature_spread": spread(test)}
    return probes


def spread(rows: torch.Tensor) -> float:
    """Largest difference between any row of ``rows`` and the first row (0: the same for every input)."""
    return (rows - rows[0]).abs().max().item()
