"""Notebook 06: a nano transformer: shapes, parameters, and a character-level language model.

``transformer``   an encoder-decoder transformer with analytic parameter counts
``nanogpt``       a decoder-only GPT in one readable file (nanoGPT's design)
``tokenization``  character, word and subword tokenizers compared
``data``          the dialogue corpus loader
``batches``       train/validation split of a token stream and random batches from it
``fixtures``      the synthetic sitcom transcript of the smoke profile
"""
