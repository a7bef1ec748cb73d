"""The shared core: what several notebooks use. It imports no topic package.

``profiles``   settings per notebook and profile (data in ``hwutils/settings/*.toml``)
``glossary``   the one vocabulary of setting names
``run``        the run object: set-up after the parameters cell, records, checks, results.json
``results``    the results contract (``results.json`` and its schema)
``precision``  float32 / bfloat16 / float16, chosen from what the device can do
``training``   seeding, the training loop with checkpoints and resume, cost measurement
``models``     from_pretrained with clear errors, parameter counting (LoRA's too), the meta device
``sources``    Hub id or local path; Hub failures and gated access as one clear error
``data/``      dataset loading and subsets; loaders of datasets several notebooks share
``fixtures/``  tiny offline models and datasets built on demand (registry, shared builders, pre-training)
``metrics``    classification metrics and confusion-matrix readers
``plots``      learning curves, confusion matrices, accuracy against parameters, image grids
``display``    markdown, tables and source code shown in notebooks
``progress``   progress bars (widgets live, text when headless)
``errors``     one-line errors for bad input
``paths``      where the checkout, fixtures and reports are
``compat``     shims that let old libraries run with today's stack (opendelta)
"""
