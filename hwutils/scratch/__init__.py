"""From-scratch parameter-efficient fine-tuning methods, in plain PyTorch.

Each module wraps or extends a frozen model, can count its own parameters analytically, and saves
and loads only its own weights. Notebooks display their source; tests check them once.
"""
