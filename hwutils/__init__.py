"""hwutils: the small helper library behind the PEFT course notebooks.

One module, one idea (see README): ``profiles`` (settings per notebook and profile),
``fixtures`` (tiny offline models and datasets), ``data`` (one loader per dataset),
``models`` (factories, parameter counting), ``scratch`` (from-scratch PEFT methods),
``training`` (seeding, loop, measurement, checkpoints), ``metrics``, ``plots``,
``reporting`` (tables, results.json, summary), ``batch`` (the papermill runner),
``compat`` (shims for old libraries).
"""

__version__ = "0.1.0"
