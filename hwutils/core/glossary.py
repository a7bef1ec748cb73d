"""One vocabulary of setting names for every notebook.

The same idea has the same name in every ``hwutils/settings/*.toml``, so ``hwutils run --set
KEY=VALUE`` means the same thing in each notebook that defines ``KEY``. A name used by two or
more notebooks must be in :data:`SHARED` or follow a :data:`PATTERNS` rule; a name listed in
:data:`RETIRED` (a spelling that drifted) may not be used at all. ``tests/core/test_glossary.py``
holds every settings file to this.
"""

from __future__ import annotations

import re

# name -> what it means, in every notebook that defines it
SHARED: dict[str, str] = {
    # where and how the run computes
    "device": '"auto" (the GPU when there is one), "cpu" or "cuda[:n]"',
    "threads": "CPU threads for torch; 0 keeps torch's default (which honours OMP_NUM_THREADS)",
    "precision": '"auto" (bfloat16 on GPUs of compute capability >= 8.0, float16 below, float32 on a CPU) or an explicit dtype',
    "preflight": '"stop" (the full profile stops at once when the GPU is too small), "warn" (run anyway) or "off" (no estimate, no check)',
    # what it reads
    "model": "a Hub model id, or a local folder (a fixture in the smoke profile)",
    "dataset": "a Hub dataset id, or a local folder of data files",
    "text_column": "the dataset column holding the text",
    "label_column": "the dataset column holding the label",
    "image_column": "the dataset column holding the image",
    # how much of it
    "train_examples": "training examples used (a seeded, class-balanced subset); 0 = the whole split",
    "validation_examples": "examples held out for model selection and learning curves; 0 = all available",
    "test_examples": "held-out examples every method is scored on; 0 = the whole split",
    "eval_examples": "examples scored at each periodic evaluation during training; 0 = all",
    "train_fraction": "share of the training split used (seeded, label-stratified)",
    "validation_fraction": "share of the training data held out for validation",
    "max_length": "tokens per example after truncation",
    # how long and how fast it trains
    "max_steps": "optimizer steps of a training run",
    "epochs": "passes over the training data",
    "batch_size": "examples per optimizer step",
    "per_device_batch_size": "examples per forward pass (batch_size / gradient_accumulation_steps)",
    "gradient_accumulation_steps": "forward passes accumulated into one optimizer step",
    "eval_batch_size": "examples per forward pass when evaluating or scoring",
    "weight_decay": "AdamW's decoupled weight decay",
    "max_grad_norm": "gradients are clipped to this global norm",
    "warmup_ratio": "share of the steps over which the learning rate warms up linearly",
    "warmup_steps": "steps over which the learning rate warms up linearly",
    "lr_scheduler": 'the learning-rate schedule after warm-up ("linear", "cosine"), as the Trainer names it',
    "eval_every": "steps between evaluations during training",
    "logging_steps": "steps between logged training losses (Trainer runs)",
    "checkpoint_every": "steps between saved training states (0: only the final one)",
    "dataloader_workers": "DataLoader worker processes (0 = load in the main process)",
    # PEFT methods
    "lora_r": "rank r of LoRA's update B A",
    "lora_alpha": "LoRA's scale numerator: the update is multiplied by lora_alpha / lora_r",
    "lora_dropout": "dropout on LoRA's input",
    "lora_targets": "names of the linear layers LoRA wraps (e.g. query and value projections)",
    "prompt_tokens": "virtual tokens of a soft prompt",
    # prompting
    "label_words": "the word that stands for each label, in label order (scored as the answer)",
    "content_free_inputs": "inputs with no content (\"N/A\", \"\"), whose label scores calibrate a prompt",
    # reading results
    "top_k": "k of top-k accuracy",
}

# rules for names that carry a method's (or a run's) key as prefix; the prefix is the results key
PATTERNS: dict[str, str] = {
    r"^[a-z][a-z0-9_]*_lr$": "<method>_lr: the learning rate of one method",
    r"^[a-z][a-z0-9_]*_steps$": "<method>_steps: optimizer steps of one method",
    r"^[a-z][a-z0-9_]*_epochs$": "<method>_epochs: epochs of one method",
    r"^[a-z][a-z0-9_]*_batch_size$": "<method>_batch_size: examples per step of one method",
    r"^[a-z][a-z0-9_]*_examples$": "<part>_examples: examples used by one part of a notebook",
}

# spellings that drifted, and the name to use instead
RETIRED: dict[str, str] = {
    "cpu_threads": "threads",
    "torch_threads": "threads",
    "num_workers": "dataloader_workers",
    "train_steps": "max_steps",
    "learning_rate": "<method>_lr",
    "lora_target_modules": "lora_targets",
    "autocast_dtype": "precision",
    "compute_dtype": "precision",
    "mixed_precision": "precision",
    "autocast": "precision",
    "max_input_length": "max_length",
    "n_train": "train_examples",
    "n_validation": "validation_examples",
    "n_test": "test_examples",
    "train_n": "train_examples",
    "eval_n": "test_examples",
    "max_train_examples": "train_examples",
    "max_test_examples": "test_examples",
    "val_fraction": "validation_fraction",
    "eval_fraction": "validation_fraction",
    "torch_dtype": "precision",
}
RETIRED_PATTERNS: dict[str, str] = {
    r"^lr_": "<method>_lr (the method first, then _lr)",
    r"_learning_rate$": "<method>_lr",
}


def problem_with(name: str) -> str | None:
    """Why ``name`` may not be a setting name, or ``None`` when it may."""
    if name in SHARED:
        return None
    if name in RETIRED:
        return f"{name!r} is a retired spelling: use {RETIRED[name]!r}"
    for pattern, instead in RETIRED_PATTERNS.items():
        if re.search(pattern, name):
            return f"{name!r} breaks the naming rule: use {instead}"
    return None


def is_shared_name(name: str) -> bool:
    """True when ``name`` is in the glossary or follows one of its patterns."""
    return name in SHARED or any(re.match(pattern, name) for pattern in PATTERNS)
