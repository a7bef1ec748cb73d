"""Notebook 03: a LLaMA on MultiNLI: in-context learning, QLoRA, merging, a classification head.

``prompts``       MultiNLI's prompt styles and demonstrations; label scoring and answer parsing
``icl``           one prompt evaluated three ways (scoring, calibrated scoring, generation)
``qlora``         LoRA on a 4-bit model and the Trainer's arguments, for SFT and the head
``sft``           supervised fine-tuning data with the loss on the answer only
``quantization``  4-bit NF4 loading and its memory
``merging``       merging the adapter into 4-bit weights (naive) or, streamed shard by shard, into the weights it was trained against (right)
``pooling``       last-token pooling of a causal model, features and linear probes
``architecture``  Llama-3 shapes and analytic parameter counts
``reporting``     the comparison of every method and the GPU estimate
``preflight``     the full profile's methods at Llama-3-8B size, for the GPU preflight
``fixtures``      the tiny Llama of the smoke profile

The task-independent prompting of a causal LM (scoring continuations, calibration, greedy
generation, demonstrations) is shared with other notebooks: :mod:`hwutils.core.prompting`.
"""

import logging

# bitsandbytes logs, when it is first imported (by peft) on AVX512-BF16 CPUs, that an optional Hub
# kernel ("kernels-community") is not installed; its built-in CPU kernels are used instead. Every
# module here is imported after this package, so the line is silenced before it can appear.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
