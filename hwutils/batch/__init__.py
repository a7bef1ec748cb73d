"""The grader's batch: run notebooks headlessly with papermill, export them, summarise the results.

``runner`` executes notebooks, ``export`` writes HTML and PDF, ``summary`` builds the summary from
``results.json`` files only, ``cli`` is the ``hwutils`` command. It sits above the topic packages:
nothing in ``hwutils.core`` or a topic package imports it.
"""
