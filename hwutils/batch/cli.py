"""The ``hwutils`` command line.

    hwutils run [--profile smoke|full] [--only NAME ...] [--notebooks DIR ...] [--jobs N] [--gpus 0,1]
                [--threads N] [--cell-timeout S] [--pdf] [--pdf-no-code] [--set KEY=VALUE ...] [--slurm ...]
    hwutils summary [REPORTS_DIR] [--compare A B ...]   # rebuild the summary from results.json files; compare folders
    hwutils fixtures              # build every fixture now and say how long each took
    hwutils list                  # the notebooks, their topic packages and headline metrics
    hwutils setup-cell [--write]  # print the notebooks' set-up cell, or write it into every notebook
    hwutils preflight [--gpu t4|l4|a100 ...] [--only NAME ...] [--markdown]   # full-profile GPU needs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hwutils.batch.stopping import StopRequest, caught_stop_signals


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string such as a path or a Hub id


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hwutils`` console script (also ``python -m hwutils``).

    SIGINT and SIGTERM are caught before anything heavy is imported, so that ``hwutils run`` stopped
    at any moment ends with its summary and exit status 130 or 143, never a traceback."""
    stop = StopRequest()
    with caught_stop_signals(stop):
        from hwutils.core.errors import ConfigError
        from hwutils.core.profiles import PROFILES

        parser = _parser(PROFILES)
        args = parser.parse_args(argv)
        if args.command == "run" and not args.slurm:
            from hwutils.batch.runner import run_batch

            try:
                return run_batch(args.profile, args.only, args.jobs, args.pdf, args.reports, args.seed,
                                 dict(args.overrides) if args.overrides else None, args.notebooks, args.threads,
                                 args.gpus, args.cell_timeout, args.pdf_no_code, stop=stop)
            except ConfigError as error:
                parser.exit(2, f"hwutils: error: {error}\n")
    if stop.signal is not None:  # while starting up a command that is not a batch
        parser.exit(stop.exit_status, "hwutils: interrupted\n")
    try:
        return _command(args)
    except ConfigError as error:
        parser.exit(2, f"hwutils: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "hwutils: interrupted\n")


def _parser(profiles: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hwutils", description="Run and report the PEFT course notebooks.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks with papermill and write reports/")
    run.add_argument("--profile", choices=profiles, default="smoke", help="smoke: tiny offline fixtures on CPU; full: real models on GPU")
    run.add_argument("--only", nargs="+", metavar="NAME", help="notebook names or unique prefixes (e.g. 06)")
    run.add_argument("--notebooks", nargs="+", type=Path, metavar="DIR",
                     help="folders of notebooks to run (default: notebooks/); several go to reports/<folder>/")
    run.add_argument("--jobs", type=int, help="notebooks run in parallel (default: 1; full profile: one per visible GPU)")
    run.add_argument("--gpus", type=lambda text: [g.strip() for g in text.split(",") if g.strip()], metavar="0,1,...",
                     help="GPU ids; each job gets exactly one (CUDA_VISIBLE_DEVICES), never two jobs on one GPU")
    run.add_argument("--cell-timeout", type=float, metavar="SECONDS",
                     help=f"mark a notebook timed out when one cell runs longer (default: off for full, 900 s for smoke; 0: off)")
    run.add_argument("--pdf-no-code", action="store_true", help="with --pdf, also a PDF without code cells")
    run.add_argument("--threads", type=int, help="CPU threads per notebook (default: 1 for smoke, cores/jobs for full)")
    run.add_argument("--pdf", action="store_true", help="also export PDF (needs Chromium)")
    run.add_argument("--seed", type=int, help="SEED parameter for every notebook (default: the notebook's)")
    run.add_argument("--set", dest="overrides", action="append", type=_parse_override, metavar="KEY=VALUE",
                     help="override a setting in the selected notebooks that define it (value parsed as JSON if it can be)")
    run.add_argument("--reports", type=Path, help="output folder (default: reports/)")
    run.add_argument("--slurm", action="store_true", help="write a Slurm job-array script (one notebook per task) instead of running")
    run.add_argument("--partition", help="with --slurm: the Slurm partition")
    run.add_argument("--gpus-per-task", type=int, default=1, help="with --slurm: GPUs per array task (default 1; 0 for CPU)")
    run.add_argument("--time", default="02:00:00", help="with --slurm: time limit per task, HH:MM[:SS]")
    summary = commands.add_parser("summary", help="rebuild reports/summary.md and .html from results.json files")
    summary.add_argument("reports", type=Path, nargs="?", help="the reports folder (default: reports/)")
    summary.add_argument("--compare", nargs="+", type=Path, metavar="DIR",
                         help="report folders to put side by side (one row per folder and notebook)")
    commands.add_parser("fixtures", help="build every fixture now")
    commands.add_parser("list", help="list the notebooks")
    flight = commands.add_parser("preflight", help="estimate each notebook's full-profile GPU memory, time and disk")
    flight.add_argument("--gpu", nargs="+", choices=["t4", "l4", "a100"], help="GPUs to estimate for (default: all)")
    flight.add_argument("--only", nargs="+", metavar="NAME", help="notebook names or unique prefixes")
    flight.add_argument("--markdown", action="store_true", help="one row per notebook: the README's table")
    setup = commands.add_parser("setup-cell", help="print the set-up cell every notebook opens with")
    setup.add_argument("--write", action="store_true", help="write it into every notebook of notebooks/")
    return parser


def _command(args: argparse.Namespace) -> int:
    """Every command but a batch run."""
    from hwutils.batch.runner import discover_notebooks
    from hwutils.batch.summary import build_summary
    from hwutils.core.profiles import available_notebooks, notebook_info

    if args.command == "run" and args.slurm:
        from hwutils.batch.slurm import write_array_script

        script = write_array_script(args.profile, args.only, args.notebooks, args.reports, args.seed,
                                    dict(args.overrides) if args.overrides else None, args.partition,
                                    args.gpus_per_task, args.time, args.cell_timeout, args.pdf, args.pdf_no_code)
        print(f"Slurm job array written to {script}\nsubmit it with:  sbatch {script}\n"
              f"then, when its tasks have finished:  hwutils summary {script.parent.parent}")
        return 0
    if args.command == "summary":
        from hwutils.core.paths import reports_dir

        if args.compare:
            from hwutils.batch.summary import build_comparison

            path = build_comparison(args.compare, args.reports or reports_dir())
        else:
            path = build_summary(args.reports or reports_dir())
        print(f"Summary: {path} (and {path.with_suffix('.html')})")
        return 0
    if args.command == "preflight":
        from hwutils.batch.preflight_report import report
        from hwutils.batch.runner import select_notebooks

        names = [p.stem for p in select_notebooks(discover_notebooks(), args.only)] if args.only else None
        print(report(names, args.gpu, args.markdown))
        return 0
    if args.command == "setup-cell":
        from hwutils.batch import setup_cell

        if not args.write:
            print(setup_cell.setup_cell_source())
            return 0
        changed = setup_cell.write_all()
        print(f"set-up cell written into {len(changed)} notebook(s): {', '.join(p.name for p in changed) or 'none changed'}")
        return 0
    if args.command == "fixtures":
        from hwutils.core.fixtures import build_all

        for name, seconds in build_all().items():
            print(f"{name:30s} {seconds:6.1f} s")
        return 0
    for notebook in discover_notebooks():
        info = notebook_info(notebook.stem) if notebook.stem in available_notebooks() else None
        print(f"{notebook.stem:24s} hwutils.{info.topic if info else '?':12s} headline "
              f"{info.headline_method + '.' + info.headline_metric if info else '?'}")
    return 0
