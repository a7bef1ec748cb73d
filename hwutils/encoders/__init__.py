"""Notebook 02: encoder classifiers (RoBERTa) on MultiNLI, fine-tuned fully, with LoRA, with prompts.

``classification``  encoding pairs, the training loop for sequence classifiers, prediction
``parameters``      analytic parameter counts of an encoder classifier and of each PEFT method
``prefix_tuning``   the fix that makes peft's prefix tuning run on RoBERTa
``multitask``       several adapters on one frozen base: switching, merging, latency, storage
``fixtures``        the tiny RoBERTa of the smoke profile
"""
