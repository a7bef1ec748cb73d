"""Time budgets, measured against their limits: the one place wall-clock limits live (`make budgets`).

    python benchmarks/budgets.py [--reports DIR] [--skip-fixtures] [--skip-test-fast]

Correctness tests never assert on time (a busy or slow machine would fail them while nothing is
wrong). Here each budget is measured and printed against its limit; the exit status is 1 if one
is exceeded. Notebooks run one at a time, on one CPU thread each, in the smoke profile (or their
times are read from the ``outcome.json`` files of an existing reports folder with ``--reports``).
Run it on a machine that is otherwise idle: the budgets are for a 2-core CI machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Seconds, in the smoke profile, one notebook at a time on one thread (the issues' limits where they set one).
NOTEBOOK_BUDGETS_S = {
    "01_t5_imdb": 180, "02_roberta_mnli": 300, "03_llama_mnli": 180, "04_vit_food101": 120, "05_clip_dogs": 120,
    "06_nano_transformer": 120, "07_pem_composition": 180, "08_moco": 180, "09_persian_llm": 180,
    "10_fraud_detection": 120,
}
FIXTURES_BUDGET_S = 120  # every fixture built from nothing
TEST_FAST_BUDGET_S = 60  # `make test-fast`: the unit tests without notebook executions
DEFAULT_NOTEBOOK_BUDGET_S = 180


def notebook_times(reports: Path) -> dict[str, float]:
    times = {}
    for outcome in sorted(reports.glob("*/outcome.json")):
        times[outcome.parent.name] = json.loads(outcome.read_text())["seconds"]
    return times


def run_notebooks(reports: Path) -> dict[str, float]:
    subprocess.run([sys.executable, "-m", "hwutils", "run", "--profile", "smoke", "--jobs", "1", "--reports", str(reports)],
                   cwd=ROOT, check=False)
    return notebook_times(reports)


def time_command(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=False, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, help="read notebook times from this reports folder instead of running them")
    parser.add_argument("--skip-fixtures", action="store_true")
    parser.add_argument("--skip-test-fast", action="store_true")
    args = parser.parse_args()

    from hwutils.core.display import markdown_table

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        times = notebook_times(args.reports) if args.reports else run_notebooks(Path(scratch) / "reports")
        for name, seconds in sorted(times.items()):
            rows.append({"budget": f"notebook {name} (smoke)", "measured (s)": seconds,
                         "limit (s)": NOTEBOOK_BUDGETS_S.get(name, DEFAULT_NOTEBOOK_BUDGET_S)})
        if not args.skip_fixtures:
            import os

            env = {**os.environ, "HWUTILS_FIXTURES_DIR": str(Path(scratch) / "fixtures"), "OMP_NUM_THREADS": "1"}
            rows.append({"budget": "every fixture built from nothing", "limit (s)": FIXTURES_BUDGET_S,
                         "measured (s)": time_command([sys.executable, "-m", "hwutils", "fixtures"], env)})
    if not args.skip_test_fast:
        rows.append({"budget": "make test-fast (unit tests, no notebook)", "limit (s)": TEST_FAST_BUDGET_S,
                     "measured (s)": time_command([sys.executable, "-m", "pytest", "-q", "-m", "not notebook and not slow"])})
    for row in rows:
        row["within"] = "yes" if row["measured (s)"] <= row["limit (s)"] else "NO"
    print(markdown_table(rows, columns=["budget", "measured (s)", "limit (s)", "within"], digits=4))
    return 0 if all(row["within"] == "yes" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
