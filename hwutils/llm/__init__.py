"""Notebook 03: a LLaMA on MultiNLI: in-context learning, QLoRA, merging, a classification head.

``prompts``       prompt styles, demonstrations, reading answers by label scoring or generation
``sft``           supervised fine-tuning data with the loss on the answer only
``quantization``  4-bit NF4 loading and merging LoRA into the weights
``pooling``       last-token pooling of a causal model, and feature extraction
``architecture``  Llama-3 shapes and analytic parameter counts
``fixtures``      the tiny Llama of the smoke profile
"""
