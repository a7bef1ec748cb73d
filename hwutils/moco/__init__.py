"""Notebook 08: MoCo v2 from scratch, and three experiments on its momentum, its queue, and augmented copies.

``model``         MoCo v2 in one file: split batch norm, the CIFAR ResNet, the projection head, the momentum
                  key encoder, the queue of keys with their source ids, InfoNCE
``augment``       the two-view augmentation (torchvision v2), fixed augmented copies, endless batches
``data``          CIFAR-10 (or its smoke stand-in) as uint8 tensors in memory
``evaluation``    weighted kNN, linear probe, held-out InfoNCE, the queue's consistency
``pretraining``   one run: build, pre-train with the core loop (resumable, float16 loss scaling), evaluate
``experiments``   method keys, loss curves, table rows and the expected share of false negatives
``estimates``     parameters, FLOPs and saved activations of the full model on the meta device; T4 estimates
``fixtures``      the smoke profile's shapes-and-textures stand-in for CIFAR-10
"""
