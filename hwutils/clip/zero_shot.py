"""Zero-shot classification with CLIP: prompt templates, class text embeddings, template ensembles.

A zero-shot classifier is a matrix of *class embeddings*: the text embedding of a prompt naming
each class ("a photo of a beagle."), L2-normalised. An image is scored against every class by
cosine similarity (times CLIP's logit scale) and assigned the best class. The prompt matters
because CLIP was trained on captions, not on bare labels; averaging the normalised embeddings of
several templates (an *ensemble*, Radford et al. 2021, section 3.1.4) gives a class embedding
that depends less on any one phrasing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from hwutils.clip.models import ClipModel
from hwutils.core.metrics import top_k_accuracy

CLIP_TEMPLATE = "a photo of a {}."


def class_embeddings(clip: ClipModel, class_names: Sequence[str], template: str) -> torch.Tensor:
    """One unit-norm text embedding per class: ``template`` filled with each class name (C x D)."""
    if "{}" not in template:
        raise ValueError(f"template {template!r} has no '{{}}' for the class name")
    return clip.encode_text([template.format(name) for name in class_names])


def ensemble(embeddings: Sequence[torch.Tensor]) -> torch.Tensor:
    """The template ensemble: the mean of L2-normalised class embeddings, normalised again.

    Each element of ``embeddings`` is a (C x D) matrix from one template; each row is normalised
    before averaging so that no template weighs more because its embeddings happen to be longer.
    """
    stacked = torch.stack([F.normalize(e.float(), dim=-1) for e in embeddings])
    return F.normalize(stacked.mean(dim=0), dim=-1)


def zero_shot_logits(image_features: torch.Tensor, class_embs: torch.Tensor, logit_scale: float = 100.0) -> torch.Tensor:
    """``logit_scale`` x cosine similarity of every (normalised) image with every class embedding (N x C)."""
    return logit_scale * F.normalize(image_features.float(), dim=-1) @ F.normalize(class_embs.float(), dim=-1).T


def accuracy_scores(image_features: torch.Tensor, labels: torch.Tensor, class_embs: torch.Tensor, k: int = 5) -> dict[str, float]:
    """Accuracy (top-1) and top-k accuracy of the zero-shot classifier ``class_embs``."""
    scores = zero_shot_logits(image_features, class_embs).numpy()
    y = labels.numpy()
    return {"accuracy": float((scores.argmax(axis=1) == y).mean()),
            f"top{k}_accuracy": top_k_accuracy(y, scores, min(k, scores.shape[1]))}


def zero_shot_cost(counts: Mapping[str, int], features: Any) -> dict[str, Any]:
    """The ``run.record`` fields of a zero-shot method: it trains nothing and sees no label; its cost is
    encoding the test images (``features.stats``, recorded as ``encoding``, not as training)."""
    return {"trainable_parameters": 0, "total_parameters": counts["total"], "labelled_images": 0,
            "encoding": features.stats.as_dict()}


def template_table(clip: ClipModel, image_features: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str],
                   templates: Sequence[str], k: int = 5) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """Accuracy and top-k accuracy of each template alone and of their ensemble (last row).

    Returns the rows and the class embeddings of every template (and of ``"ensemble"``).
    """
    embeddings = {template: class_embeddings(clip, class_names, template) for template in templates}
    embeddings["ensemble"] = ensemble(list(embeddings.values()))
    rows = [{"template": name if name == "ensemble" else repr(name), **accuracy_scores(image_features, labels, embs, k)}
            for name, embs in embeddings.items()]
    rows[-1]["template"] = f"ensemble of the {len(templates)} templates"
    return rows, embeddings


def one_class_scores(y_true: np.ndarray, y_pred: np.ndarray, class_index: int) -> dict[str, float]:
    """Precision, recall and F1 of one class (one-vs-rest) and the overall accuracy."""
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_true == class_index, y_pred == class_index, average="binary", zero_division=0)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "accuracy": float((y_true == y_pred).mean())}


def with_class_embedding(class_embs: torch.Tensor, class_index: int, embedding: torch.Tensor) -> torch.Tensor:
    """A copy of ``class_embs`` whose row ``class_index`` is ``embedding`` (normalised)."""
    changed = class_embs.clone()
    changed[class_index] = F.normalize(embedding.float(), dim=-1)
    return changed


def class_prompt_search(clip: ClipModel, class_embs: torch.Tensor, class_index: int, class_name: str,
                        candidates: Sequence[str], template_embs: Mapping[str, torch.Tensor],
                        features: torch.Tensor, labels: torch.Tensor) -> tuple[list[dict[str, Any]], list[torch.Tensor]]:
    """Try prompts for ONE class, leaving every other class's embedding as it is.

    Each candidate template is tried alone and added to the class's template ensemble
    (``template_embs``: the per-template class embeddings the ensemble was built from). Every
    variant is scored on ``features``/``labels``, which must be held out from the test set (a
    validation part of train): the class's precision, recall and F1, and the overall accuracy.
    Returns the rows (the first is the unchanged classifier) and each row's class embeddings.
    """
    y_true = labels.numpy()
    class_rows = [e[class_index] for e in template_embs.values()]
    variants = [("unchanged", "(the template ensemble)", class_embs)]
    for template in candidates:
        prompt = template.format(class_name)
        candidate = clip.encode_text([prompt])[0]
        variants.append(("alone", prompt, with_class_embedding(class_embs, class_index, candidate)))
        variants.append(("added to the ensemble", prompt,
                         with_class_embedding(class_embs, class_index, ensemble([*class_rows, candidate]))))
    rows = []
    for name, prompt, embs in variants:
        y_pred = zero_shot_logits(features, embs).argmax(dim=1).numpy()
        rows.append({"variant": name, "prompt": prompt, **one_class_scores(y_true, y_pred, class_index)})
    return rows, [embs for _, _, embs in variants]


def best_variant(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The row with the highest class F1 (ties: higher overall accuracy, then the earlier row, i.e. the unchanged classifier)."""
    return max(rows, key=lambda row: (round(row["f1"], 12), round(row["accuracy"], 12), -rows.index(row)))


def plot_templates(rows: Sequence[Mapping[str, Any]], chance: float, title: str) -> None:
    """Accuracy per template, top to bottom in the order of ``rows``, the ensemble (the last row) highlighted."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1))
    ax.barh([row["template"] for row in rows][::-1], [row["accuracy"] for row in rows][::-1],
            color=["C1"] + ["C0"] * (len(rows) - 1))
    ax.axvline(chance, color="grey", linestyle="--", label=f"chance ({100 * chance:.2f}%)")
    ax.set(xlabel="accuracy", title=title, xlim=(0, 1))
    ax.legend(loc="lower right")
    fig.tight_layout()


def comparison_row(label: str, clip_name: str, counts: Mapping[str, int], clip_scores: Mapping[str, float],
                   template_rows: Sequence[Mapping[str, Any]], features: Any, k: int) -> dict[str, Any]:
    """One model's row in the model comparison: size, zero-shot accuracy (CLIP's template and the ensemble,
    the last of ``template_rows``) and the cost of encoding the test images (``features.stats``)."""
    return {"model": label, "open_clip name": clip_name, "parameters": counts["total"], "image encoder": counts["image_encoder"],
            "CLIP template accuracy": clip_scores["accuracy"], "ensemble accuracy": template_rows[-1]["accuracy"],
            f"ensemble top{k}_accuracy": template_rows[-1][f"top{k}_accuracy"],
            "images/s (encoding)": features.stats.samples_per_s, "peak memory (MB)": features.stats.peak_memory_mb}
