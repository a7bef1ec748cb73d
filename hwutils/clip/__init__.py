"""CLIP with open_clip, one idea per module (notebook 05).

``models``     load an open_clip model, its preprocessing and tokenizer (Hub tag or local file)
``features``   image features computed once per model and split (in the run's precision), cached on disk, checked for staleness
``zero_shot``  prompt templates, class text embeddings, template ensembles, zero-shot scores
``evaluation`` per-class metrics, one class's confusions and how close two classes are; differences in words
``heads``      what is trained on cached features: learnable class embeddings, a linear probe, few-shot subsets
``coop``       CoOp: learnable context tokens passed through the frozen text encoder
``data``       the Stanford Dogs loader and breed names
``fixtures``   the tiny ConvNeXt CLIP and the synthetic dog images of the smoke profile
"""
