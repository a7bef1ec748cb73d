"""hwutils: the small helper library behind the PEFT course notebooks.

The folder tree is the architecture (see README, "Layout"):

* ``hwutils.core``: what several notebooks share (settings, the run object, training, models,
  data, fixtures, metrics, plots, display, results). It imports no topic package.
* one topic package per notebook, named by its topic: ``t5_peft`` (01), ``encoders`` (02),
  ``llm`` (03), ``vision`` (04), ``clip`` (05), ``lm`` (06). A topic package imports the core and
  no other topic package.
* ``hwutils.batch``: the grader's batch runner and its summary, above everything else.
"""

__version__ = "0.2.0"
