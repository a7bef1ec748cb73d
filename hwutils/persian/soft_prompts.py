"""Soft prompts with peft: prompt tuning (from a Persian instruction or random) and P-tuning.

A soft prompt is ``n`` trainable vectors put in front of the input embeddings; the language model
stays frozen. peft builds three kinds:

* ``prompt_tuning_text``: ``PromptTuningConfig`` with ``PromptTuningInit.TEXT``: the vectors start as
  the embeddings of the instruction's tokens, so before training the model sees exactly the
  zero-shot hard prompt (Lester et al., 2021);
* ``prompt_tuning_random``: ``PromptTuningInit.RANDOM``: the vectors start as draws of a standard
  normal, far from any word's embedding;
* ``p_tuning``: ``PromptEncoderConfig``: the vectors are the output of a small MLP over trainable
  inputs (Liu et al., 2021, "GPT Understands, Too"); the reparameterisation eases optimisation.

Training (:func:`train_soft_prompt`) is the Hugging Face ``Trainer`` with the loss on the label
word only (the comment's tokens have label -100), in the run's precision (float16 with loss
scaling on a T4), saving a checkpoint every ``checkpoint_every`` steps and resuming from the last
one when the notebook is run again (peft alone cannot resume P-tuning: see :func:`encoder_state_callback`). Reading the answer (:func:`score_soft_prompt`) scores the label
words exactly as the hard prompts do, after the virtual tokens. :func:`nearest_tokens` shows
which vocabulary tokens the prompt vectors are closest to (cosine similarity of embeddings).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwutils.core.errors import ConfigError
from hwutils.core.precision import Precision
from hwutils.core.progress import headless, progress
from hwutils.core.training import Meter, RunStats
from hwutils.persian.classification import SentimentPrompt, continuation_ids, prompt_ids

METHODS = ("prompt_tuning_text", "prompt_tuning_random", "p_tuning")


def soft_prompt_config(method: str, num_virtual_tokens: int, instruction: str, tokenizer_source: str,
                       encoder_hidden_size: int):
    """The peft config of ``method`` (one of :data:`METHODS`)."""
    from peft import PromptEncoderConfig, PromptTuningConfig, PromptTuningInit, TaskType

    if method == "prompt_tuning_text":
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=num_virtual_tokens,
                                  prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=instruction,
                                  tokenizer_name_or_path=tokenizer_source)
    if method == "prompt_tuning_random":
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=num_virtual_tokens,
                                  prompt_tuning_init=PromptTuningInit.RANDOM)
    if method == "p_tuning":
        return PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=num_virtual_tokens,
                                   encoder_reparameterization_type="MLP", encoder_hidden_size=encoder_hidden_size)
    raise ConfigError(f"unknown soft-prompt method {method!r}; valid methods: {', '.join(METHODS)}")


def soft_prompt_model(base_model: Any, config: Any, seed: int):
    """``base_model`` (frozen) behind a fresh soft prompt; random initialisations are seeded."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(base_model, config)


def prompt_parameters(config: Any, hidden_size: int) -> int:
    """Trainable parameters of a soft prompt, from its config: ``n × d`` vectors, plus for
    P-tuning its MLP (``d → h → h → d`` with biases)."""
    n, d = config.num_virtual_tokens, hidden_size
    if type(config).__name__ == "PromptEncoderConfig":
        h = config.encoder_hidden_size
        return n * d + (d * h + h) + (h * h + h) + (h * d + d)
    return n * d


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def training_rows(tokenizer: Any, prompt: SentimentPrompt, texts: Sequence[str], labels: Sequence[int]) -> list[dict]:
    """One row per comment: the comment in the prompt's layout (no instruction: the soft prompt
    takes its place) followed by its label word; the loss is on the label word's tokens only."""
    continuations = continuation_ids(tokenizer, prompt)
    rows = []
    for text, label in zip(texts, labels):
        body = prompt_ids(tokenizer, prompt, text, with_instruction=False)
        answer = continuations[int(label)]
        rows.append({"input_ids": body + answer, "attention_mask": [1] * (len(body) + len(answer)),
                     "labels": [-100] * len(body) + answer})
    return rows


def pad_right(pad_id: int):
    """A collator: rows padded on the right (input ids with ``pad_id``, labels with -100)."""

    def collate(rows: Sequence[Mapping[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        pad = {"input_ids": pad_id, "attention_mask": 0, "labels": -100}
        return {key: torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows]) for key, value in pad.items()}

    return collate


# ---------------------------------------------------------------------------------------------
# Training, checkpointed and resumable
# ---------------------------------------------------------------------------------------------


@dataclass
class SoftPromptTraining:
    """What a training run left: logged losses, evaluation losses, its cost, where it resumed."""

    losses: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss"}
    evals: list[dict[str, float]] = field(default_factory=list)  # {"step", "eval_loss"}
    stats: RunStats = field(default_factory=RunStats)
    resumed_from_step: int = 0
    checkpoint_dir: str = ""


def checkpoint_folder(root: Path, method: str, fingerprint: Mapping[str, Any]) -> Path:
    """``root/<method>-<digest of fingerprint>``: a run with other settings never resumes another's checkpoint."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Path(root) / f"{method}-{digest}"


ENCODER_STATE_FILE = "prompt_encoder_state.pt"


def encoder_state_callback(model: Any, resume_from: str | None):
    """A ``TrainerCallback`` that keeps a soft prompt's whole state in every checkpoint.

    peft saves a prompt as the vectors it produces; for P-tuning that is the MLP's *output*, from
    which training cannot continue (the MLP and its inputs are lost, and reloading would pass the
    saved output through the MLP again). The callback saves the prompt encoder's own parameters
    next to each checkpoint and, when training resumes, restores them after the ``Trainer`` has
    loaded its checkpoint."""
    from transformers import TrainerCallback

    encoder = model.prompt_encoder[model.active_adapter]

    class KeepEncoderState(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            torch.save(encoder.state_dict(), folder / ENCODER_STATE_FILE)

        def on_train_begin(self, args, state, control, **kwargs):
            if resume_from:
                saved = torch.load(Path(resume_from) / ENCODER_STATE_FILE, map_location="cpu", weights_only=True)
                encoder.load_state_dict(saved)

    return KeepEncoderState()


def train_soft_prompt(model: Any, train: Sequence[dict], validation: Sequence[dict], *, output_dir: Path, pad_id: int,
                      steps: int, batch_size: int, eval_batch_size: int, lr: float, weight_decay: float,
                      warmup_ratio: float, eval_every: int, checkpoint_every: int, logging_steps: int, seed: int,
                      precision: Precision, device: torch.device) -> SoftPromptTraining:
    """Train the soft prompt of ``model`` for ``steps`` steps with the ``Trainer`` (AdamW, linear
    warm-up then decay) and return its history. A checkpoint is written every ``checkpoint_every``
    steps into ``output_dir``; if one is there already, training resumes from it (from the last
    one: a finished run is reloaded, not repeated)."""
    from transformers import PrinterCallback, Trainer, TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=eval_batch_size, learning_rate=lr, weight_decay=weight_decay,
        warmup_ratio=warmup_ratio, lr_scheduler_type="linear", logging_steps=min(logging_steps, steps),
        # a run shorter than these intervals still logs, evaluates and saves at least once
        eval_strategy="steps", eval_steps=min(eval_every, steps), save_strategy="steps",
        save_steps=min(checkpoint_every, steps),
        save_total_limit=1, report_to=[], seed=seed, data_seed=seed, use_cpu=device.type == "cpu",
        dataloader_num_workers=0, remove_unused_columns=False, label_names=["labels"], disable_tqdm=headless(),
        **precision.trainer_flags())
    last = get_last_checkpoint(str(output_dir))
    trainer = Trainer(model=model, args=args, train_dataset=list(train), eval_dataset=list(validation),
                      data_collator=pad_right(pad_id), callbacks=[encoder_state_callback(model, last)])
    trainer.remove_callback(PrinterCallback)  # the history is returned and shown as tables, not printed
    resumed = int(Path(last).name.split("-")[-1]) if last else 0
    stats_file = output_dir / "run_stats.json"
    previous = RunStats(**json.loads(stats_file.read_text())) if last and stats_file.exists() else None
    mean_length = float(np.mean([len(r["input_ids"]) for r in train]))
    with Meter(device, previous=previous) as meter:
        trainer.train(resume_from_checkpoint=last)
        done = max(trainer.state.global_step - resumed, 0)
        meter.count(samples=done * batch_size, tokens=round(done * batch_size * mean_length), steps=done)
    stats_file.write_text(json.dumps(asdict(meter.stats)))
    history = trainer.state.log_history
    return SoftPromptTraining(
        losses=[{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h],
        evals=[{"step": h["step"], "eval_loss": h["eval_loss"]} for h in history if "eval_loss" in h],
        stats=meter.stats, resumed_from_step=resumed, checkpoint_dir=str(output_dir))


# ---------------------------------------------------------------------------------------------
# Reading the answer, and looking at the prompt
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def score_soft_prompt(model: Any, tokenizer: Any, prompt: SentimentPrompt, texts: Sequence[str],
                      batch_size: int = 16, desc: str = "scoring") -> np.ndarray:
    """``log p(label word | soft prompt, comment)`` for every text and label: shape (texts, labels).

    Rows are right-padded: peft puts the virtual tokens first, so the comment follows them with
    no gap and its positions count on from theirs, as in training. (The core's left-padded
    scorer passes position ids, which peft's prompt learning ignores.)
    """
    model.eval()
    n_virtual = model.active_peft_config.num_virtual_tokens
    device = next(p for p in model.parameters()).device
    continuations = continuation_ids(tokenizer, prompt)
    bodies = [prompt_ids(tokenizer, prompt, text, with_instruction=False) for text in texts]
    pairs = [(t, c) for t in range(len(texts)) for c in range(len(continuations))]
    scores = np.zeros((len(texts), len(continuations)))
    collate = pad_right(tokenizer.pad_token_id)
    for start in progress(range(0, len(pairs), batch_size), desc=desc):
        batch = pairs[start:start + batch_size]
        sequences = [bodies[t] + continuations[c] for t, c in batch]
        padded = collate([{"input_ids": s, "attention_mask": [1] * len(s), "labels": [-100] * len(s)} for s in sequences])
        logits = model(input_ids=padded["input_ids"].to(device), attention_mask=padded["attention_mask"].to(device)).logits
        for row, (t, c) in enumerate(batch):
            answer = continuations[c]
            first = n_virtual + len(bodies[t]) - 1  # the position that predicts the answer's first token
            log_probs = torch.log_softmax(logits[row, first:first + len(answer)].float(), dim=-1)
            scores[t, c] = log_probs.gather(1, torch.tensor(answer, device=log_probs.device)[:, None]).sum().item()
    return scores


@torch.no_grad()
def prompt_vectors(model: Any) -> torch.Tensor:
    """The ``n × d`` vectors the soft prompt puts in front of the input (P-tuning: its MLP's output)."""
    return model.get_prompt(batch_size=1)[0].detach().float().cpu()


def token_text(tokenizer: Any, token_id: int) -> str:
    """A token as readable text (a leading space shown as ``␣``, an empty or partial one as its id)."""
    text = tokenizer.decode([token_id])
    if not text.strip() or "\ufffd" in text:
        return f"#{token_id}"
    return ("␣" if text.startswith(" ") else "") + text.strip()


@torch.no_grad()
def nearest_tokens(vectors: torch.Tensor, embeddings: torch.Tensor) -> tuple[list[int], list[float]]:
    """For each prompt vector, the vocabulary token whose input embedding is closest in cosine
    similarity, and that similarity."""
    vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
    table = torch.nn.functional.normalize(embeddings.detach().float().cpu(), dim=-1)
    similarity, index = (vectors @ table.T).max(dim=-1)
    return index.tolist(), similarity.tolist()


def nearest_token_rows(tokenizer: Any, embeddings: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> list[dict]:
    """A row per virtual token: its nearest vocabulary token before and after training, the
    similarities, and how far the vector moved (cosine between its two states)."""
    ids_before, sim_before = nearest_tokens(before, embeddings)
    ids_after, sim_after = nearest_tokens(after, embeddings)
    moved = torch.nn.functional.cosine_similarity(before.float(), after.float(), dim=-1).tolist()
    return [{"position": i, "nearest before": token_text(tokenizer, ids_before[i]), "cosine before": sim_before[i],
             "nearest after": token_text(tokenizer, ids_after[i]), "cosine after": sim_after[i],
             "cosine(before, after)": moved[i], "same token": ids_before[i] == ids_after[i]}
            for i in range(len(ids_before))]


# ---------------------------------------------------------------------------------------------
# One method, start to finish
# ---------------------------------------------------------------------------------------------


@dataclass
class SoftPromptResult:
    """A trained soft prompt's test scores, its vectors before and after training, its cost."""

    method: str
    scores: np.ndarray  # (test texts, labels)
    initial_scores: np.ndarray | None  # the same before any training (when asked for)
    vectors_before: torch.Tensor
    vectors_after: torch.Tensor
    training: SoftPromptTraining
    trainable_parameters: int
    total_parameters: int
    analytic_parameters: int


def fit_soft_prompt(method: str, base_model: Any, tokenizer: Any, prompt: SentimentPrompt, *, num_virtual_tokens: int,
                    tokenizer_source: str, encoder_hidden_size: int, train: Sequence[dict], validation: Sequence[dict],
                    test_texts: Sequence[str], checkpoint_root: Path, fingerprint: Mapping[str, Any],
                    training: Mapping[str, Any], seed: int, eval_batch_size: int,
                    score_before_training: bool = False) -> SoftPromptResult:
    """Build ``method``'s soft prompt on the frozen ``base_model``, train it (resuming from a
    checkpoint if there is one), and score the test texts; ``training`` holds the keyword
    arguments of :func:`train_soft_prompt` other than the data, model and folder."""
    from hwutils.core.models import count_parameters

    config = soft_prompt_config(method, num_virtual_tokens, prompt.instruction, tokenizer_source, encoder_hidden_size)
    model = soft_prompt_model(base_model, config, seed)
    before = prompt_vectors(model)
    initial = score_soft_prompt(model, tokenizer, prompt, test_texts, eval_batch_size, desc=f"{method} (untrained)") \
        if score_before_training else None
    folder = checkpoint_folder(checkpoint_root, method, {**fingerprint, "method": method, "tokens": num_virtual_tokens,
                                                         "encoder_hidden_size": encoder_hidden_size, **training})
    history = train_soft_prompt(model, train, validation, output_dir=folder, pad_id=tokenizer.pad_token_id,
                                eval_batch_size=eval_batch_size, seed=seed, **training)
    scores = score_soft_prompt(model, tokenizer, prompt, test_texts, eval_batch_size, desc=method)
    count = count_parameters(model)
    return SoftPromptResult(method, scores, initial, before, prompt_vectors(model), history, count.trainable, count.total,
                            prompt_parameters(config, base_model.config.hidden_size))
