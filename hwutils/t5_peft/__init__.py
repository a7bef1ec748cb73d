"""Notebook 01: T5-small on IMDB, and PEFT methods written from scratch in plain PyTorch.

``text2text``  sentiment as a text-to-text task, label-word scoring
``lora``, ``adapters``, ``prompts``  the from-scratch methods: wrap or extend a frozen T5, count
               their own parameters analytically, save and load only their own weights
``t5_layout``  where things are inside a T5, and its parameter count
``weights``    the one save/load format of the from-scratch methods' weight files
``fixtures``   the tiny T5 of the smoke profile
"""
