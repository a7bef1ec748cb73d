"""One notebook of a batch, in a process of its own.

    python -m hwutils.batch.worker '<job as JSON>'
    python -m hwutils.batch.worker --tasks tasks.json --task N     # task N of a Slurm job array


The batch runner starts one worker per notebook, with the GPU it may use in ``CUDA_VISIBLE_DEVICES``.
The worker executes the notebook (:func:`hwutils.batch.runner.execute_notebook`), exports it, and
writes ``outcome.json`` beside its results. SIGINT or SIGTERM stop the running cell: the kernel is
shut down, the cells that ran are saved (and exported to HTML), and the outcome says ``interrupted``. The exit status is
0 (ok), 1 (failed), 124 (a cell timed out) or 130 (interrupted).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from hwutils.batch.runner import EXIT_STATUS, execute_notebook, export
from hwutils.batch.summary import write_outcome


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    if argv[:1] == ["--tasks"]:
        spec = json.loads(Path(argv[1]).read_text())[int(argv[argv.index("--task") + 1])]
    else:
        spec = json.loads(argv[0])
    if spec.get("pdf_with") == "chromium":  # a cluster node finds its own browser
        from hwutils.batch.export import find_chromium

        spec["pdf_with"] = find_chromium()
    for stop in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may have started us with it ignored
        signal.signal(stop, _interrupt)
    outcome = execute_notebook(Path(spec["notebook"]), Path(spec["output_dir"]), spec["profile"], spec.get("seed"),
                               spec.get("overrides"), spec.get("threads"), spec.get("cell_timeout"))
    try:  # an interrupted notebook gets its HTML (quick) but no PDF; an interrupt here keeps the outcome
        if outcome.status == "interrupted":
            export(outcome, None)
        else:
            export(outcome, spec.get("pdf_with"), spec.get("pdf_no_code", False))
    except KeyboardInterrupt:
        if outcome.status == "ok":
            outcome.status, outcome.error = "interrupted", "the notebook ran; its export was interrupted"
        else:
            outcome.error += " (its export was interrupted)"
    write_outcome(Path(spec["output_dir"]), outcome.status, outcome.seconds, outcome.error, device=outcome.device,
                  exports=[str(p) for p in outcome.exports])
    return EXIT_STATUS.get(outcome.status, 1)


if __name__ == "__main__":
    raise SystemExit(main())
