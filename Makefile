# `make run` and `make test` create .venv and install everything on first use.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# The exact, tested versions (pip constraints); pyproject.toml keeps ranges for Colab and Kaggle.
LOCK   := requirements.lock
PROFILE ?= smoke
JOBS    ?= 2
ARGS    ?=

.PHONY: setup run test test-fast test-slurm test-colab budgets preflight pdf lab clean-reports clean

setup: $(VENV)/.installed

# torch first, on its own: it is the largest wheel, and the lock holds the pair that works together.
# opendelta 0.3.2 declares requirements that no longer install (`sklearn`, `delta-center-client`):
# it goes in without its dependencies, and hwutils.core.compat makes it importable.
$(VENV)/.installed: pyproject.toml $(LOCK) Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(LOCK) torch torchvision
	$(BIN)/pip install --quiet -c $(LOCK) -e ".[dev,lab]"
	$(BIN)/pip install --quiet --no-deps $$(grep '^opendelta==' $(LOCK))
	$(BIN)/python -m ipykernel install --sys-prefix --name hwutils --display-name "Python (hwutils)"
	touch $@

run: setup
	$(BIN)/hwutils run --profile $(PROFILE) --jobs $(JOBS) $(ARGS)

pdf: setup
	$(BIN)/hwutils run --profile $(PROFILE) --jobs $(JOBS) --pdf $(ARGS)

# Everything CI runs: unit tests and a smoke execution of every notebook. One pytest worker more
# than CPUs: a worker that waits for another's run of the same notebook (a file lock) leaves its CPU
# to the extra one (each notebook kernel runs on one thread).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(ARGS)

# The unit tests without notebook executions and without those marked slow (training runs, resumes,
# full-size architectures on the meta device: `make test` runs them): 45 s on 2 cores, fixtures built.
test-fast: setup
	$(BIN)/python -m pytest -m "not notebook and not slow" $(ARGS)

# The grader's batch through a real single-node Slurm started for the test (needs slurm-wlm and munge, root).
test-slurm: setup
	HWUTILS_SLURM_TEST=1 $(BIN)/python -m pytest tests/batch/test_slurm.py $(ARGS)

# A notebook as a Colab user meets it: a Python 3.12 preloaded with older torch, transformers, numpy
# and pandas (built once into ~/.cache/hwutils-colab-test/, about 3 GB of downloads the first time),
# the set-up cell installing this checkout, notebooks 06 and 01 run from a folder outside it.
test-colab: setup
	HWUTILS_COLAB_TEST=1 $(BIN)/python -m pytest tests/test_colab.py -n 0 $(ARGS)

# Time budgets, measured against their limits (kept out of the correctness tests).
budgets: setup
	$(BIN)/python benchmarks/budgets.py $(ARGS)

# GPU memory and disk each notebook's full profile needs, per GPU (estimates from the real architectures).
preflight: setup
	$(BIN)/hwutils preflight $(ARGS)

lab: setup
	$(BIN)/jupyter lab notebooks/

clean-reports:
	rm -rf reports/

clean: clean-reports
	rm -rf $(VENV) data/fixtures
