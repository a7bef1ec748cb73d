"""The ways notebook 02 adapts RoBERTa, as one table, and the function that trains one of them.

:func:`method_table` says, for each method, how the pre-trained model is built and wrapped (the
model class, the peft configuration, and which parameters are then left trainable), which
parameters train (in words, and as an analytic count on any architecture), and its learning rate
and epochs (the settings ``<method>_lr`` and ``<method>_epochs``). :func:`train_method` trains one
method and returns the trained model next to a :class:`MethodResult`, plain values: losses,
evaluations, cost, parameter counts and how far the parameters the method adds moved. Nothing is
kept between calls.

>>> table = method_table(load_settings("02_roberta_mnli", "full"))  # doctest: +SKIP
>>> model, result = train_method(table["lora"], recipe, encoded["train"], held_out, num_labels=3)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification

from hwutils.core import metrics, models
from hwutils.core.errors import ConfigError
from hwutils.core.precision import Precision
from hwutils.core.training import TrainResult, seed_everything
from hwutils.encoders import parameters as analytic
from hwutils.encoders.classification import BatchStream, fine_tune, predict, steps_for
from hwutils.encoders.prefix_tuning import RobertaPrefixForSequenceClassification

# the NLI methods of sections 5-6, in the order of the tables
COMPARED = ("full_ft", "top_layers", "head_only", "lora", "prompt_tuning", "p_tuning", "deep_prompts")
PROMPT_METHODS = ("prompt_tuning", "p_tuning", "deep_prompts")
# what a method adds to the pre-trained weights, by group; peft's frozen copy of the head ("original_module") is not used
ADDED_GROUPS = {"head": "classifier", "lora": "lora_", "prompt": "prompt_encoder"}
FINGERPRINT_SETTINGS = ("batch_size", "max_length", "warmup_ratio", "weight_decay", "max_grad_norm", "lora_r", "lora_alpha",
                        "lora_dropout", "lora_targets", "prompt_tokens", "p_tuning_encoder_hidden", "prefix_tokens",
                        "prefix_projection", "prefix_encoder_hidden", "top_layers_trained", "train_fraction",
                        "eval_examples", "eval_every")


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer layers of a RoBERTa classifier, wrapped by peft or not."""
    return model.get_base_model().roberta.encoder.layer if hasattr(model, "get_base_model") else model.roberta.encoder.layer


def train_only_top_layers(count: int) -> Callable[[nn.Module], None]:
    """Freeze everything but the top ``count`` transformer layers and the classification head."""
    def choose(model: nn.Module) -> None:
        layers = encoder_layers(model)
        if not 1 <= count <= len(layers):
            raise ConfigError(f"top_layers_trained = {count}, but the model has {len(layers)} layers; choose 1 to {len(layers)}")
        models.freeze(model)
        for module in [*layers[len(layers) - count:], model.classifier]:
            module.requires_grad_(True)
    return choose


def train_only_head(model: nn.Module) -> None:
    """Freeze the pre-trained body: only the new classification head trains (a frozen feature extractor)."""
    models.freeze(model)
    model.classifier.requires_grad_(True)


def train_only_input_embeddings(model: nn.Module) -> None:
    """The course report's freezing, line for line: every parameter frozen (the soft prompt and the
    new head included), then the input embeddings (``model.get_input_embeddings()``) unfrozen."""
    for parameter in model.parameters():
        parameter.requires_grad = False
    for parameter in model.get_input_embeddings().parameters():
        parameter.requires_grad = True


@dataclass(frozen=True)
class Method:
    """One way to adapt the pre-trained classifier: what is built, what trains, and how fast."""

    key: str  # the results key, and the prefix of its settings
    title: str
    lr: float
    epochs: float
    what_trains: str
    analytic_trainable: Callable[[Any], int]  # trainable parameters on a configuration (its num_labels classes)
    peft_config: Any = None  # a peft configuration, or None: the model is not wrapped
    model_class: Any = AutoModelForSequenceClassification
    choose_trainable: Callable[[nn.Module], None] | None = None  # sets requires_grad after wrapping (None: as built)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` prepared for this method: wrapped by peft (frozen base, trainable additions and
        head), then left with exactly the parameters this method trains."""
        if self.peft_config is not None:
            from peft import get_peft_model  # imported on use: peft's import pulls in bitsandbytes, which logs a CPU note

            model = get_peft_model(model, copy.deepcopy(self.peft_config))  # peft fills in fields of the config it gets
        if self.choose_trainable is not None:
            self.choose_trainable(model)
        return model

    def build(self, source: str, num_labels: int) -> nn.Module:
        """The pre-trained checkpoint ``source`` with a new ``num_labels``-class head, prepared for this method."""
        return self.wrap(models.from_pretrained(self.model_class, source, num_labels=num_labels))

    def on_meta_device(self, config: Any) -> nn.Module:
        """This method on the architecture of ``config``, built on the meta device (for counting)."""
        return self.wrap(models.on_meta_device(self.model_class, config))


def method_table(settings: Mapping[str, Any]) -> dict[str, Method]:
    """Every set-up of notebook 02 by key: the compared NLI methods, the course report's "P-tuning"
    (section 7), and the two ways of adding the sentiment task (section 9). Each learning rate and
    number of epochs is read from ``settings``."""
    from peft import LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

    r, targets, tokens = settings["lora_r"], list(settings["lora_targets"]), settings["prompt_tokens"]
    top = settings["top_layers_trained"]
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

    def rate(key):
        return settings[f"{key}_lr"], settings[f"{key}_epochs"]

    lora_trains = f"A, B on {', '.join(targets)} (r={r}, α={settings['lora_alpha']}) + head"
    methods = [
        Method("full_ft", "full fine-tuning", *rate("full_ft"), "every weight",
               lambda c: analytic.sequence_classifier_parameters(c, c.num_labels)),
        Method("top_layers", f"top {top} layer(s) + head", *rate("top_layers"), f"the top {top} transformer layer(s) + head",
               lambda c: top * analytic.encoder_layer_parameters(c) + head(c), choose_trainable=train_only_top_layers(top)),
        Method("head_only", "head only (frozen base)", *rate("head_only"), "the classification head", head,
               choose_trainable=train_only_head),
        Method("lora", "LoRA", *rate("lora"), lora_trains, lora_count, lora),
        Method("prompt_tuning", "prompt tuning", *rate("prompt_tuning"), f"{tokens} input vectors + head",
               lambda c: analytic.prompt_tuning_parameters(c, tokens) + head(c), prompt),
        Method("p_tuning", "P-tuning", *rate("p_tuning"), f"MLP prompt encoder ({tokens} tokens) + head",
               lambda c: analytic.p_tuning_parameters(c, tokens, settings["p_tuning_encoder_hidden"]) + head(c), p_tuning),
        Method("deep_prompts", "deep prompts", *rate("deep_prompts"),
               f"{settings['prefix_tokens']} keys and values per layer + head",
               lambda c: analytic.prefix_tuning_parameters(c, settings["prefix_tokens"], settings["prefix_projection"],
                                                           settings["prefix_encoder_hidden"]) + head(c),
               prefix, model_class=RobertaPrefixForSequenceClassification),
        # the course report's "P-tuning", as its code ran: peft's prompt tuning, then everything frozen but the input embeddings
        Method("course_report_p_tuning", "the report's \"P-tuning\" (its code)", *rate("course_report_p_tuning"),
               "the word-embedding matrix only (prompt and head frozen)", analytic.word_embedding_parameters, prompt,
               choose_trainable=train_only_input_embeddings),
        Method("sentiment", "LoRA, sentiment", *rate("sentiment"), lora_trains, lora_count, lora),
        Method("sentiment_head", "head only, sentiment", *rate("sentiment_head"), "the classification head", head,
               choose_trainable=train_only_head),
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
    moved: float  # ||θ - θ₀|| / ||θ₀|| over the parameters the method adds (head, LoRA, prompt), trainable or not
    largest_change: dict[str, float]  # per group of added parameters: the largest |θ - θ₀| of any entry

    def loss_trend(self) -> tuple[float, float]:
        """Mean training loss over the first and the last tenth of the steps."""
        values = [r["loss"] for r in self.training.losses]
        k = max(1, len(values) // 10)
        return float(np.mean(values[:k])), float(np.mean(values[-k:]))

    def reuse_note(self) -> str:
        """What a rerun took from this method's checkpoint ("" when it trained from the start)."""
        step = self.training.resumed_from_step
        if not step:
            return ""
        if step >= self.steps:
            return f"reused its finished checkpoint (all {self.steps} steps; nothing was retrained)"
        return f"resumed from its checkpoint at step {step} of {self.steps}"

    def record_fields(self) -> dict[str, Any]:
        """Keyword arguments of ``run.record`` for this result (the metrics aside)."""
        return {"trainable_parameters": self.parameters.trainable, "total_parameters": self.parameters.total,
                "stats": self.training.stats, "steps": self.steps, "moved": self.moved,
                "largest_change": self.largest_change, "resumed_from_step": self.training.resumed_from_step,
                "evals": self.training.evals}


def train_method(method: Method, recipe: Recipe, train_data, eval_data, *, num_labels: int) -> tuple[nn.Module, MethodResult]:
    """Build ``method`` on the pre-trained model, train it for ``method.epochs`` over ``train_data``
    at ``method.lr`` (held-out accuracy on ``eval_data`` every ``eval_every`` steps), and return the
    trained model and its :class:`MethodResult`. A rerun resumes from (or reuses) its checkpoint."""
    seed_everything(recipe.seed)  # every method starts from the same head initialisation and sees the same batches
    model = method.build(recipe.model, num_labels).to(recipe.device)
    steps = steps_for(method.epochs, len(train_data), recipe.batch_size)
    batches = BatchStream(train_data, recipe.pad_token_id, recipe.batch_size, torch.Generator().manual_seed(recipe.seed))
    start = added_parameters(model)
    training = fine_tune(
        model, batches, lr=method.lr, steps=steps, warmup_ratio=recipe.warmup_ratio, weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm, evaluate=lambda: {"held_out_accuracy": recipe.accuracy(model, eval_data)},
        eval_every=recipe.eval_every, checkpoint=recipe.checkpoint_dir / f"{method.key}.pt",
        checkpoint_every=recipe.checkpoint_every, precision=recipe.precision,
        fingerprint={**recipe.fingerprint, "method": method.key, "lr": method.lr, "epochs": method.epochs,
                     "examples": len(train_data)},
        desc=method.title)
    result = MethodResult(method.key, steps, training, models.count_parameters(model), relative_change(start, model),
                          largest_change(start, model))
    return model, result


def load_classifier(recipe: Recipe, num_labels: int) -> nn.Module:
    """The pre-trained checkpoint with a seeded new head, on the run's device, in eval mode: the
    base that adapters are loaded onto."""
    seed_everything(recipe.seed)
    model = models.from_pretrained(AutoModelForSequenceClassification, recipe.model, num_labels=num_labels)
    return model.to(recipe.device).eval()


def added_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the parameters a method adds to the pre-trained weights (the head, LoRA's matrices,
    the prompt), whether they train or not."""
    return {name: p.detach().clone() for name, p in model.named_parameters()
            if "original_module" not in name and any(marker in name for marker in ADDED_GROUPS.values())}


def relative_change(start: Mapping[str, torch.Tensor], model: nn.Module) -> float:
    """``||θ - θ₀|| / ||θ₀||`` over the parameters of ``start`` (θ₀), θ read from ``model`` now."""
    now = dict(model.named_parameters())
    change = sum(((now[name].detach() - before).float() ** 2).sum() for name, before in start.items())
    size = sum((before.float() ** 2).sum() for before in start.values())
    return float(torch.sqrt(change / size))


def largest_change(start: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, float]:
    """Per group of added parameters present in ``start`` (head, LoRA, prompt): the largest
    ``|θ - θ₀|`` of any of its entries (0.0 exactly: not one entry moved)."""
    now = dict(model.named_parameters())
    changes: dict[str, float] = {}
    for group, marker in ADDED_GROUPS.items():
        names = [name for name in start if marker in name]
        if names:
            changes[group] = max(float((now[name].detach() - start[name]).abs().max()) for name in names)
    return changes


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

    def prediction_shares(self) -> np.ndarray:
        """The share of the examples predicted as each class (a constant predictor puts 1.0 on one)."""
        return np.bincount(self.predictions, minlength=self.logits.shape[1]) / len(self.predictions)

    def label_shares(self) -> np.ndarray:
        """The share of each class among the true labels: what always predicting that class scores."""
        return np.bincount(self.labels, minlength=self.logits.shape[1]) / len(self.labels)


def score(model: nn.Module, splits: Mapping[str, Any], recipe: Recipe) -> dict[str, Scores]:
    """:class:`Scores` of ``model`` on each named encoded split."""
    return {name: Scores(np.array(encoded["label"]), recipe.logits(model, encoded)) for name, encoded in splits.items()}


def metrics_of(result: MethodResult, scores: Mapping[str, Scores]) -> dict[str, float]:
    """The metrics recorded for a method: ``<split>_accuracy`` and ``<split>_macro_f1`` for each
    scored split, and the training loss over the first and last tenth of the steps."""
    first_loss, last_loss = result.loss_trend()
    values = {f"{split}_{name}": getattr(s, name) for split, s in scores.items() for name in ("accuracy", "macro_f1")}
    return values | {"first_loss": first_loss, "last_loss": last_loss}


def prune_checkpoints(folder: Path) -> dict[str, int]:
    """Delete the training checkpoints in ``folder`` (after a successful run: the results, adapters
    and heads are kept); returns the files removed and their bytes."""
    files = sorted(Path(folder).glob("*.pt")) if Path(folder).exists() else []
    freed = sum(f.stat().st_size for f in files)
    shutil.rmtree(folder, ignore_errors=True)
    return {"files": len(files), "bytes": freed}


def free_memory(device: torch.device) -> None:
    """Return cached GPU memory once a model is deleted (the next method loads a fresh one)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
