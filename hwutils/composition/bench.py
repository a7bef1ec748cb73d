"""A bench: one base model and what every experiment does with its modules (train, load, score).

The notebook keeps two benches, a text-to-text one (T5) for the classification experiments and a
causal one (GPT-2) for unlearning. A bench builds a fresh peft model for each module (the base
loaded again, the module's initialisation seeded), trains it in its own folder under
``OUTPUT_DIR/modules/`` (resumable, reused on a rerun), and keeps one :class:`ModuleSlot` per method
into which composed modules are loaded for scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hwutils.core import models
from hwutils.core.precision import Precision
from hwutils.composition import evaluation, tasks
from hwutils.composition.modules import ModuleSlot, attach_module, config_from_settings
from hwutils.composition.training import CausalLMCollator, Seq2SeqCollator, TrainedModule, train_module


@dataclass
class Bench:
    """One base model (``source``) and the recipe of the modules trained on it."""

    source: str
    model_class: Any  # e.g. T5ForConditionalGeneration
    task_type: str  # peft's task type: "SEQ_2_SEQ_LM" or "CAUSAL_LM"
    tokenizer: Any
    settings: Mapping[str, Any]
    precision: Precision
    device: torch.device
    folder: Path
    seed: int
    learning_rates: dict[str, float]  # per method
    steps: int
    batch_size: int
    max_length: int
    lora_targets: list[str]
    fan_in_fan_out: bool = False
    collator: Any = None
    _slots: dict[tuple, ModuleSlot] = field(default_factory=dict, repr=False)

    def new_model(self, method: str, init_seed: int | None = None, **changes: Any):
        """The base model, fresh from ``source``, wrapped with an untrained module of ``method``."""
        base = models.from_pretrained(self.model_class, self.source).to(self.device)
        config = config_from_settings(method, self.settings, self.task_type, lora_targets=self.lora_targets,
                                      fan_in_fan_out=self.fan_in_fan_out, **changes)
        seed = self.settings["init_seed"] if init_seed is None else init_seed
        return attach_module(base, config, seed)

    def train(self, name: str, method: str, features, init_seed: int | None = None) -> TrainedModule:
        """Train (or resume, or reuse) module ``name`` of ``method`` on tokenized ``features``."""
        init_seed = self.settings["init_seed"] if init_seed is None else init_seed
        s = self.settings
        recipe = {"base": self.source, "method": method, "init_seed": init_seed, "max_length": self.max_length,
                  "lora": [s["lora_r"], s["lora_alpha"], s["lora_dropout"], self.lora_targets]}
        return train_module(name, self.new_model(method, init_seed), features, self.collator, self.folder / name,
                            recipe=recipe, steps=self.steps, lr=self.learning_rates[method], batch_size=self.batch_size,
                            seed=self.seed, precision=self.precision, device=self.device,
                            weight_decay=s["weight_decay"], warmup_ratio=s["warmup_ratio"], max_grad_norm=s["max_grad_norm"],
                            checkpoint_every=s["checkpoint_every"], logging_steps=s["logging_steps"],
                            dataloader_workers=s["dataloader_workers"])

    def slot(self, method: str, **changes: Any) -> ModuleSlot:
        """The (cached) model into which composed modules of ``method`` are loaded for scoring."""
        key = (method, tuple(sorted(changes.items())))
        if key not in self._slots:
            self._slots[key] = ModuleSlot(self.new_model(method, **changes))
        return self._slots[key]

    def features(self, task: tasks.TextTask, dataset):
        return tasks.seq2seq_features(dataset, task, self.tokenizer, self.max_length)

    def accuracy(self, model, task: tasks.TextTask, dataset) -> float:
        return evaluation.accuracy(model, self.tokenizer, task, dataset, batch_size=self.settings["eval_batch_size"],
                                   max_length=self.max_length, precision=self.precision)

    def prediction_shares(self, model, task: tasks.TextTask, dataset) -> list[float]:
        """Share of ``dataset`` predicted as each label (in label order): where a module leans."""
        rows = list(dataset)
        scores = evaluation.label_log_likelihoods(model, self.tokenizer, [task.source(r) for r in rows], task.label_words,
                                                  batch_size=self.settings["eval_batch_size"], max_length=self.max_length,
                                                  precision=self.precision)
        predicted = scores.argmax(axis=1)
        return [float((predicted == label).mean()) for label in range(len(task.label_words))]


def score(slot: ModuleSlot, state: Mapping[str, torch.Tensor] | None, scorer: Callable[[Any], Mapping[str, float]]) -> dict[str, float]:
    """``scorer(model)`` with ``state`` loaded into ``slot`` (``None``: the base model, adapter off)."""
    if state is None:
        with slot.base() as model:
            return dict(scorer(model))
    with slot.holding(state) as model:
        return dict(scorer(model))


def t5_bench(run) -> Bench:
    """The text-to-text bench of experiments 1, 2, 4 and 5 (``settings.model``: t5-base or the tiny T5)."""
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    s = run.settings
    tokenizer = models.from_pretrained(AutoTokenizer, s.model)
    return Bench(s.model, T5ForConditionalGeneration, "SEQ_2_SEQ_LM", tokenizer, s, run.precision, run.device,
                 run.output_dir / "modules", run.seed, {"lora": s.lora_lr, "ia3": s.ia3_lr}, s.max_steps, s.batch_size,
                 s.max_length, list(s.lora_targets), collator=Seq2SeqCollator(tokenizer.pad_token_id))


def lm_bench(run) -> Bench:
    """The causal bench of experiment 3 (``settings.lm_model``: GPT-2 medium or the tiny GPT-2)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    s = run.settings
    tokenizer = models.from_pretrained(AutoTokenizer, s.lm_model)
    return Bench(s.lm_model, AutoModelForCausalLM, "CAUSAL_LM", tokenizer, s, run.precision, run.device,
                 run.output_dir / "modules", run.seed, {"lora": s.lm_lora_lr, "ia3": s.lm_ia3_lr}, s.lm_steps,
                 s.lm_batch_size, s.lm_max_length, list(s.lm_lora_targets), fan_in_fan_out=True,
                 collator=CausalLMCollator(tokenizer.eos_token_id))


def task_scorer(bench: Bench, task_sets: Mapping[str, tuple[tasks.TextTask, Mapping[str, Any]]],
                splits: tuple[str, ...] = ("validation", "test")) -> Callable[[Any], dict[str, float]]:
    """``model -> {"<task>_<split>": accuracy, ..., "mean_<split>": mean over tasks}`` for the given tasks."""
    def scores(model) -> dict[str, float]:
        values = {f"{name}_{split}": bench.accuracy(model, task, sets[split])
                  for name, (task, sets) in task_sets.items() for split in splits}
        for split in splits:
            values[f"mean_{split}"] = sum(values[f"{name}_{split}"] for name in task_sets) / len(task_sets)
        return values

    return scores


def attribute_scorer(bench: Bench, classifier, classifier_tokenizer, neutral: list[str]) -> Callable[[Any], dict[str, float]]:
    """``model -> {"attribute_rate", "attribute_mean", "neutral_perplexity"}``: the share of the model's
    samples the classifier finds to carry ``settings.attribute`` (probability >= ``attribute_threshold``),
    their mean probability, and the model's perplexity on neutral text."""
    s = bench.settings

    def scores(model) -> dict[str, float]:
        texts = evaluation.sample_texts(model, bench.tokenizer, s["generation_prompt"], s["generations"],
                                        max_new_tokens=s["generation_tokens"], batch_size=s["generation_batch_size"],
                                        seed=bench.seed, precision=bench.precision, top_p=s["top_p"])
        probabilities = evaluation.attribute_probabilities(classifier, classifier_tokenizer, texts, s["attribute"],
                                                           batch_size=s["eval_batch_size"], max_length=bench.max_length)
        perplexity = evaluation.perplexity(model, bench.tokenizer, neutral, batch_size=s["eval_batch_size"],
                                           max_length=bench.max_length, precision=bench.precision)
        return {"attribute_rate": float((probabilities >= s["attribute_threshold"]).mean()),
                "attribute_mean": float(probabilities.mean()), "neutral_perplexity": perplexity}

    return scores
