"""Notebook 09: a Persian language model, soft prompts, then reasoning methods.

``text``            Persian normalisation (Arabic ي/ك, ZWNJ kept) and number extraction (three digit sets, ٫ and ٬)
``rtl``             right-to-left display: HTML blocks and tables, shaped and reordered text for matplotlib
``data``            the sentiment dataset (SnappFood's layout) read, labelled and normalised
``classification``  hard prompts: the layout, token ids, scoring the label words, a one-word baseline
``soft_prompts``    prompt tuning and P-tuning with peft: configs, checkpointed training, scoring, nearest tokens
``arithmetic``      a documented generator of Persian word problems with worked chains
``reasoning``       direct answers, chains of thought, self-consistency; generation with token counts
``architecture``    the full checkpoint's published shape: parameter counts and T4 estimates
``fixtures``        the smoke profile's comments dataset and tiny Persian language model
"""
