"""Notebook 01: T5-small on IMDB, and PEFT methods written from scratch in plain PyTorch.

``text2text``  sentiment as a text-to-text task, label-word scoring
``lora``, ``adapters``, ``prompts``  the from-scratch methods: wrap or extend a frozen T5, count
               their own parameters analytically, save and load only their own weights
``methods``    the ten training set-ups (full fine-tuning; each PEFT family from scratch and with
               peft / AdapterHub / opendelta), built from the settings: the notebook and
               ``benchmarks/t5_peft_cost.py`` both use it
``recipe``     the data, the one training recipe, and how a trained method is measured and recorded
``counting``   analytic vs counted trainable parameters per method
``analysis``   the ten runs side by side: results table, figures, the facts the analysis states
``t5_layout``  where things are inside a T5, and its parameter count
``weights``    the one save/load code of the from-scratch methods' weight files
``fixtures``   the tiny T5 of the smoke profile
"""
