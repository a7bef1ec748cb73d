"""Notebook 04: a ViT on Food101 with LoRA.

``data``      the Food101 loader
``images``    transforms from the checkpoint's image processor, batching, prediction on a new image
``fixtures``  the tiny ViT and the synthetic food images of the smoke profile
"""
