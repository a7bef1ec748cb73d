"""The ways notebook 02 adapts RoBERTa, as one table, and the function that trains one of them.

:func:`method_table` says, for each method, how the pre-trained model is built and wrapped (the
model class and the peft configuration), which parameters train (in words, and as an analytic
count on any architecture), and its learning rate and epochs (the settings ``<method>_lr`` and
``<method>_epochs``). :func:`train_method` trains one method and returns the trained model next
to a :class:`MethodResult`, plain values: losses, evaluations, cost, parameter counts and how far
the parameters the method adds moved. Nothing is kept between calls.

>>> table = method_table(load_settings("02_roberta_mnli", "full"))  # doctest: +SKIP
>>> model, result = train_method(table["lora"], recipe, encoded["train"], held_out, num_labels=3)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification

from hwutils.core import metrics, models
from hwutils.core.precision import Precision
from hwutils.core.training import TrainResult, seed_everything
from hwutils.encoders import parameters as analytic
from hwutils.encoders.classification import BatchStream, fine_tune, predict, steps_for
from hwutils.encoders.prefix_tuning import RobertaPrefixForSequenceClassification

COMPARED = ("full_ft", "lora", "prompt_tuning", "p_tuning", "deep_prompts")  # the five methods of sections 4-6
NEW_PARAMETER_MARKERS = ("classifier", "lora_", "prompt_encoder")  # what a method adds to the pre-trained weights
FINGERPRINT_SETTINGS = ("batch_size", "max_length", "warmup_ratio", "weight_decay", "lora_r", "lora_alpha", "lora_dropout",
                        "lora_targets", "prompt_tokens", "p_tuning_encoder_hidden", "prefix_tokens", "prefix_projection")


@dataclass(frozen=True)
class Method:
    """One way to adapt the pre-trained classifier: what is built, what trains, and how fast."""

    key: str  # the results key, and the prefix of its settings
    title: str
    lr: float
    epochs: float
    what_trains: str
    analytic_trainable: Callable[[Any], int]  # trainable parameters on a configuration (its num_labels classes)
    peft_config: Any = None  # a peft configuration, or None: every weight trains
    model_class: Any = AutoModelForSequenceClassification
    trains_word_embeddings: bool = False

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` prepared for this method: wrapped by peft (frozen base, trainable additions and
        head) or left whole."""
        if self.peft_config is not None:
            from peft import get_peft_model  # imported on use: peft's import pulls in bitsandbytes, which logs a CPU note

            model = get_peft_model(model, copy.deepcopy(self.peft_config))  # peft fills in fields of the config it gets
        if self.trains_word_embeddings:  # the course report's set-up: the whole word-embedding matrix trains too
            model.word_embeddings.weight.requires_grad_(True)
        return model

    def build(self, source: str, num_labels: int) -> nn.Module:
        """The pre-trained checkpoint ``source`` with a new ``num_labels``-class head, prepared for this method."""
        return self.wrap(models.from_pretrained(self.model_class, source, num_labels=num_labels))

    def on_meta_device(self, config: Any) -> nn.Module:
        """This method on the architecture of ``config``, built on the meta device (for counting)."""
        return self.wrap(models.on_meta_device(self.model_class, config))


def method_table(settings: Mapping[str, Any]) -> dict[str, Method]:
    """Every set-up of notebook 02 by key: the five compared methods, the course report's P-tuning
    (section 7) and the sentiment adapter (section 8). Each learning rate and number of epochs is
    read from ``settings``."""
    from peft import LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

    r, targets, tokens = settings["lora_r"], list(settings["lora_targets"]), settings["prompt_tokens"]
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=r, lora_alpha=settings["lora_alpha"],
                      lora_dropout=settings["lora_dropout"], target_modules=targets)
    prompt = PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=tokens)
    p_tuning = PromptEncoderConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=tokens,
                                   encoder_hidden_size=settings["p_tuning_encoder_hidden"])
    prefix = PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=settings["prefix_tokens"],
                                prefix_projection=settings["prefix_projection"],
                                encoder_hidden_size=settings["prefix_encoder_hidden"])

    def head(config):
        return analytic.classification_head_parameters(config, config.num_labels)

    def lora_count(config):
        return models.lora_parameters(analytic.layer_shapes(config), r, targets, layers=config.num_hidden_layers) + head(config)

    def p_tuning_count(config):
        return analytic.p_tuning_parameters(config, tokens, settings["p_tuning_encoder_hidden"]) + head(config)

    lora_trains = f"A, B on {', '.join(targets)} (r={r}, α={settings['lora_alpha']}) + head"
    methods = [
        Method("full_ft", "full fine-tuning", settings["full_ft_lr"], settings["full_ft_epochs"], "every weight",
               lambda c: analytic.sequence_classifier_parameters(c, c.num_labels)),
        Method("lora", "LoRA", settings["lora_lr"], settings["lora_epochs"], lora_trains, lora_count, lora),
        Method("prompt_tuning", "prompt tuning", settings["prompt_tuning_lr"], settings["prompt_tuning_epochs"],
               f"{tokens} input vectors + head", lambda c: analytic.prompt_tuning_parameters(c, tokens) + head(c), prompt),
        Method("p_tuning", "P-tuning", settings["p_tuning_lr"], settings["p_tuning_epochs"],
               f"MLP prompt encoder ({tokens} tokens) + head", p_tuning_count, p_tuning),
        Method("deep_prompts", "deep prompts", settings["deep_prompts_lr"], settings["deep_prompts_epochs"],
               f"{settings['prefix_tokens']} keys and values per layer + head",
               lambda c: analytic.prefix_tuning_parameters(c, settings["prefix_tokens"], settings["prefix_projection"],
                                                           settings["prefix_encoder_hidden"]) + head(c),
               prefix, model_class=RobertaPrefixForSequenceClassification),
        # the same P-tuning, as the course report ran it: word embeddings unfrozen, a full-fine-tuning rate
        Method("course_report_p_tuning", "P-tuning, course-report set-up", settings["course_report_p_tuning_lr"],
               settings["p_tuning_epochs"], "MLP prompt encoder + head + the word-embedding matrix",
               lambda c: p_tuning_count(c) + analytic.word_embedding_parameters(c), p_tuning, trains_word_embeddings=True),
        Method("sentiment", "LoRA, sentiment", settings["sentiment_lr"], settings["sentiment_epochs"], lora_trains,
               lora_count, lora),
    ]
    return {method.key: method for method in methods}


def trainable_rows(methods: Sequence[Method], configs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per method: trainable parameters from its formula (``"<name>: analytic"``) and counted by
    PyTorch on the meta device with peft applied exactly as in training (``"<name>: counted"``),
    for each named configuration; and the total of the last one."""
    rows = []
    for method in methods:
        row: dict[str, Any] = {"method": method.key}
        for name, config in configs.items():
            counted = models.count_parameters(method.on_meta_device(config))
            row |= {f"{name}: analytic": method.analytic_trainable(config), f"{name}: counted": counted.trainable}
        rows.append(row | {f"{name}: total": counted.total})
    return rows


@dataclass(frozen=True)
class Recipe:
    """What every method shares: the checkpoint, the batches and schedule, where and how precisely
    it computes, and where its checkpoints go."""

    model: str
    pad_token_id: int
    batch_size: int
    eval_batch_size: int
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    eval_every: int
    checkpoint_every: int
    checkpoint_dir: Path
    device: torch.device
    precision: Precision
    seed: int
    fingerprint: Mapping[str, Any]  # what a saved checkpoint must match to be resumed

    @classmethod
    def from_run(cls, run: Any, pad_token_id: int) -> Recipe:
        """The recipe of a notebook run (:class:`hwutils.core.run.Run`): its settings, device, precision and seed."""
        s = run.settings
        fingerprint = {"model": s.model, "dataset": s.dataset, "seed": run.seed, **{k: s[k] for k in FINGERPRINT_SETTINGS}}
        return cls(s.model, pad_token_id, s.batch_size, s.eval_batch_size, s.warmup_ratio, s.weight_decay, s.max_grad_norm,
                   s.eval_every, s.checkpoint_every, run.output_dir / "checkpoints", run.device, run.precision, run.seed,
                   fingerprint)

    def logits(self, model: nn.Module, encoded) -> np.ndarray:
        """``model``'s logits for every row of ``encoded``, in the run's precision."""
        return predict(model, encoded, self.pad_token_id, self.eval_batch_size, self.precision)

    def accuracy(self, model: nn.Module, encoded) -> float:
        return metrics.accuracy(encoded["label"], self.logits(model, encoded).argmax(-1))


@dataclass
class MethodResult:
    """What training one method gave: plain values, no model."""

    key: str
    steps: int
    training: TrainResult  # per-step losses, held-out evaluations, wall time / throughput / memory
    parameters: models.ParameterCount
    moved: float  # ||θ - θ₀|| / ||θ₀|| over the parameters the method adds (head, LoRA, prompt encoder)

    def loss_trend(self) -> tuple[float, float]:
        """Mean training loss over the first and the last tenth of the steps."""
        values = [r["loss"] for r in self.training.losses]
        k = max(1, len(values) // 10)
        return float(np.mean(values[:k])), float(np.mean(values[-k:]))

    def record_fields(self) -> dict[str, Any]:
        """Keyword arguments of ``run.record`` for this result (the metrics aside)."""
        return {"trainable_parameters": self.parameters.trainable, "total_parameters": self.parameters.total,
                "stats": self.training.stats, "steps": self.steps, "moved": self.moved,
                "resumed_from_step": self.training.resumed_from_step, "evals": self.training.evals}


def train_method(method: Method, recipe: Recipe, train_data, eval_data, *, num_labels: int) -> tuple[nn.Module, MethodResult]:
    """Build ``method`` on the pre-trained model, train it for ``method.epochs`` over ``train_data``
    at ``method.lr`` (held-out accuracy on ``eval_data`` every ``eval_every`` steps), and return the
    trained model and its :class:`MethodResult`. A rerun resumes from (or reuses) its checkpoint."""
    seed_everything(recipe.seed)  # every method starts from the same head initialisation and sees the same batches
    model = method.build(recipe.model, num_labels).to(recipe.device)
    steps = steps_for(method.epochs, len(train_data), recipe.batch_size)
    batches = BatchStream(train_data, recipe.pad_token_id, recipe.batch_size, torch.Generator().manual_seed(recipe.seed))
    start = new_parameters(model)
    training = fine_tune(
        model, batches, lr=method.lr, steps=steps, warmup_ratio=recipe.warmup_ratio, weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm, evaluate=lambda: {"held_out_accuracy": recipe.accuracy(model, eval_data)},
        eval_every=recipe.eval_every, checkpoint=recipe.checkpoint_dir / f"{method.key}.pt",
        checkpoint_every=recipe.checkpoint_every, generator=batches.generator, precision=recipe.precision,
        fingerprint={**recipe.fingerprint, "method": method.key, "epochs": method.epochs, "examples": len(train_data)},
        desc=method.title)
    return model, MethodResult(method.key, steps, training, models.count_parameters(model), relative_change(start, model))


def load_classifier(recipe: Recipe, num_labels: int) -> nn.Module:
    """The pre-trained checkpoint with a seeded new head, on the run's device, in eval mode: the
    base that adapters are loaded onto."""
    seed_everything(recipe.seed)
    model = models.from_pretrained(AutoModelForSequenceClassification, recipe.model, num_labels=num_labels)
    return model.to(recipe.device).eval()


def new_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the trainable parameters the method adds to the pre-trained weights."""
    return {name: p.detach().clone() for name, p in model.named_parameters()
            if p.requires_grad and any(marker in name for marker in NEW_PARAMETER_MARKERS)}


def relative_change(start: Mapping[str, torch.Tensor], model: nn.Module) -> float:
    """``||θ - θ₀|| / ||θ₀||`` over the parameters of ``start`` (θ₀), θ read from ``model`` now."""
    now = dict(model.named_parameters())
    change = sum(((now[name].detach() - before).float() ** 2).sum() for name, before in start.items())
    size = sum((before.float() ** 2).sum() for before in start.values())
    return float(torch.sqrt(change / size))


@dataclass
class Scores:
    """A model's logits on one labelled split, and what they score."""

    labels: np.ndarray
    logits: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(-1)

    @property
    def accuracy(self) -> float:
        return metrics.accuracy(self.labels, self.predictions)

    @property
    def macro_f1(self) -> float:
        return metrics.macro_f1(self.labels, self.predictions, list(range(self.logits.shape[1])))

    def confusion(self) -> np.ndarray:
        return metrics.confusion(self.labels, self.predictions, list(range(self.logits.shape[1])))


def score(model: nn.Module, splits: Mapping[str, Any], recipe: Recipe) -> dict[str, Scores]:
    """:class:`Scores` of ``model`` on each named encoded split."""
    return {name: Scores(np.array(encoded["label"]), recipe.logits(model, encoded)) for name, encoded in splits.items()}


def metrics_of(result: MethodResult, scores: Mapping[str, Scores]) -> dict[str, float]:
    """The metrics recorded for a method: ``<split>_accuracy`` and ``<split>_macro_f1`` for each
    scored split, and the training loss over the first and last tenth of the steps."""
    first_loss, last_loss = result.loss_trend()
    values = {f"{split}_{name}": getattr(s, name) for split, s in scores.items() for name in ("accuracy", "macro_f1")}
    return values | {"first_loss": first_loss, "last_loss": last_loss}


def free_memory(device: torch.device) -> None:
    """Return cached GPU memory once a model is deleted (the next method loads a fresh one)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
