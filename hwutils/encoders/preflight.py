"""Notebook 02 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

Every method the notebook trains is described on ``roberta-large`` built on the meta device from its
published configuration (:func:`hwutils.encoders.parameters.roberta_large_config`), with peft
applied exactly as in training, and one per-device batch of the longest pairs the settings allow
(``max_length`` tokens; dynamic padding usually feeds shorter ones). Attention is counted in its eager
form, which keeps every attention probability for the backward pass: an upper bound for the fused
kernels (SDPA) a GPU runs, and what the meta device can trace. Evaluation batches and the section on
merging (three inference copies at once) are estimated too.

The sizes of the data are background facts about the Hub's datasets, not read from them (nothing
is downloaded here): :data:`MNLI_PAIRS` and :data:`IMDB_REVIEWS` count their rows, and
:data:`DOWNLOAD_BYTES` their files, rounded up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from hwutils.core import models
from hwutils.core.preflight import Workload, bytes_of
from hwutils.encoders import methods
from hwutils.encoders import parameters as analytic
from hwutils.encoders.classification import steps_for

MNLI_PAIRS = {"train": 392_702, "validation_matched": 9_815, "validation_mismatched": 9_832}
IMDB_REVIEWS = {"train": 25_000, "test": 25_000}
DOWNLOAD_BYTES = {"multi_nli": 230e6, "imdb": 85e6}  # about what the Hub serves for each (rounded up)
NLI_SECTIONS = (*methods.COMPARED, "course_report_p_tuning")
REMEDY = "batch_size=16 (or precision='float16' on an older GPU)"


def large_config(num_labels: int) -> Any:
    """roberta-large's configuration with eager attention (see the module's docstring)."""
    config = analytic.roberta_large_config(num_labels=num_labels)
    config._attn_implementation = "eager"
    return config


def meta_batch(rows: int, length: int) -> dict[str, torch.Tensor]:
    """One batch of ``rows`` sequences of ``length`` tokens, as meta tensors."""
    ids = torch.zeros(rows, length, dtype=torch.long, device="meta")
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
            "labels": torch.zeros(rows, dtype=torch.long, device="meta")}


def evaluation_batches(settings: Mapping[str, Any], scored_examples: int, evaluations: int) -> int:
    """Forward passes of ``eval_batch_size`` spent on ``evaluations`` periodic evaluations of
    ``eval_examples`` pairs and a final scoring of ``scored_examples``."""
    per_evaluation = settings["eval_examples"] or MNLI_PAIRS["validation_matched"]
    return -(-(evaluations * per_evaluation + scored_examples) // settings["eval_batch_size"])


def workloads(settings: Mapping[str, Any]) -> list[Workload]:
    """Each method of notebook 02 at full-profile size: the NLI methods (and the course report's
    set-up), the sentiment adapter and head, and the merging section's three inference copies."""
    table = methods.method_table(settings)
    nli, sentiment = large_config(3), large_config(2)
    n_train = round(settings["train_fraction"] * MNLI_PAIRS["train"])
    scored = MNLI_PAIRS["validation_matched"] + MNLI_PAIRS["validation_mismatched"]
    sentiment_train = settings["sentiment_train_examples"] or IMDB_REVIEWS["train"]
    sentiment_test = settings["sentiment_test_examples"] or IMDB_REVIEWS["test"]
    result = []
    for key in (*NLI_SECTIONS, "sentiment", "sentiment_head"):
        method = table[key]
        on_sentiment = key.startswith("sentiment")
        config = sentiment if on_sentiment else nli
        length = settings["sentiment_max_length"] if on_sentiment else settings["max_length"]
        steps = steps_for(method.epochs, sentiment_train if on_sentiment else n_train, settings["batch_size"])
        evaluations = steps // settings["eval_every"] + 1
        result.append(Workload(
            key, build=lambda method=method, config=config: method.on_meta_device(config),
            batch=lambda length=length: meta_batch(settings["batch_size"], length), steps=steps,
            forward_passes=evaluation_batches(settings, sentiment_test if on_sentiment else scored, evaluations),
            remedy=REMEDY))

    def three_copies():
        return models.on_meta_device(methods.AutoModelForSequenceClassification, nli)

    copy_bytes = analytic.sequence_classifier_parameters(nli, 3) * 4
    result.append(Workload("merging (3 copies, inference)", build=three_copies,
                           batch=lambda: meta_batch(settings["eval_batch_size"], settings["max_length"]), training=False,
                           forward_passes=3 * evaluation_batches(settings, MNLI_PAIRS["validation_matched"], 0),
                           extra_bytes=2 * copy_bytes, extra_note="the base, the unmerged and the merged model at once"))
    return result


def checkpoint_bytes(settings: Mapping[str, Any]) -> dict[str, int]:
    """Bytes of each method's training checkpoint on roberta-large: its trainable weights and AdamW's
    two moments, in float32 (the frozen base is not saved)."""
    table = methods.method_table(settings)
    nli, sentiment = analytic.roberta_large_config(num_labels=3), analytic.roberta_large_config(num_labels=2)
    return {key: bytes_of(table[key].analytic_trainable(sentiment if key.startswith("sentiment") else nli), 3 * 4)
            for key in (*NLI_SECTIONS, "sentiment", "sentiment_head")}


def disk(settings: Mapping[str, Any]) -> dict[str, float]:
    """Bytes on disk: the downloads (roberta-large's float32 checkpoint, MultiNLI, IMDB), the training
    checkpoints at their peak (all methods' at once, plus a temporary copy of the largest while it is
    replaced), and what stays after a successful run (the checkpoints are pruned unless
    ``keep_checkpoints``; the adapters and heads stay)."""
    from transformers import RobertaForMaskedLM

    checkpoint = models.count_parameters(models.on_meta_device(RobertaForMaskedLM, analytic.roberta_large_config())).total
    per_method = checkpoint_bytes(settings)
    kept = sum(per_method[key] // 3 for key in ("lora", "sentiment", "head_only", "sentiment_head"))  # weights alone
    if settings.get("keep_checkpoints"):
        kept += sum(per_method.values())
    return {"downloads": bytes_of(checkpoint, 4) + sum(DOWNLOAD_BYTES.values()),
            "checkpoints (peak)": sum(per_method.values()) + max(per_method.values()), "outputs (kept)": kept}
