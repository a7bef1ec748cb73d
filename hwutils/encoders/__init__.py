"""Notebook 02: encoder classifiers (RoBERTa) on MultiNLI, fine-tuned fully, with LoRA, with prompts.

``methods``         the method table (how each method wraps the model, what trains, its rate and epochs)
                    and the function that trains one method and returns its result
``classification``  encoding pairs, dynamic padding, the training loop for sequence classifiers, prediction
``parameters``      analytic parameter counts of an encoder classifier and of each PEFT method
``prefix_tuning``   the fix that makes peft's prefix tuning run on RoBERTa
``multitask``       several adapters on one frozen base: switching, merging, latency, storage
``report``          the notebook's multi-panel figures and the overview of the data splits
``fixtures``        the tiny RoBERTa of the smoke profile
"""
