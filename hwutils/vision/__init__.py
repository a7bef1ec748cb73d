"""Notebook 04: a ViT on Food101 with LoRA.

``data``      the Food101 loader (train, a validation split held out of it, and the official validation split as test)
``images``    transforms from the checkpoint's image processor, batching, prediction on a new image
``models``    the classifier, its LoRA configuration, the analytic trainable count, the adapter saved and reloaded
``training``  the Trainer every method shares, its learning curves, scores on a held-out split
``fixtures``  the tiny ViT and the synthetic food images of the smoke profile
"""
