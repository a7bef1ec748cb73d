"""Notebook 07: composing parameter-efficient modules with arithmetic (Zhang, Chen, Liu and He, NeurIPS 2023).

``arithmetic``  the operators on peft modules: scaling, negation, (weighted) addition, analogy, the exact LoRA sum
``updates``     what a module does to the base weights (ΔW per layer, read from peft's layers) and how updates compare
``modules``     peft configurations, modules attached with a seeded initialisation, a slot to load composed modules into
``training``    training one module with the Trainer: checkpoints, resuming, reuse of a finished module
``tasks``       classification tasks as text-to-text problems, their data, the label-skewed halves of experiment 1
``corpora``     plain text for the language-model experiments: toxic comments, neutral text, samples of it
``evaluation``  scoring: label likelihoods (rank classification), perplexity, seeded samples, an attribute classifier
``sweeps``      λ sweeps: a grid, choosing λ on validation data, the negation kept in experiment 3, the λ curves
``bench``       one base model with what every experiment does to its modules (train, load, score)
``estimates``   the full profile's module sizes counted on the meta device and derived, and T4 memory/time estimates
``fixtures``    the smoke fixtures: a tiny T5 and GPT-2, a toxicity judge, and small tasks with a real signal
"""
