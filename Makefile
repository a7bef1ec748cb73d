# `make run` and `make test` create .venv and install everything on first use.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# The torch pair tested with every other pin (pyproject.toml keeps torch a range for Colab users).
TORCH_PINS   := torch==2.14.1 torchvision==0.29.1
# opendelta 0.3.2 declares requirements that no longer install (`sklearn`, `delta-center-client`):
# it goes in without its dependencies, and hwutils.compat makes it importable.
NO_DEPS_PINS := opendelta==0.3.2
PROFILE ?= smoke
JOBS    ?= 2
ARGS    ?=

.PHONY: setup run test pdf lab clean-reports clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps $(NO_DEPS_PINS)
	$(BIN)/python -m ipykernel install --sys-prefix --name hwutils --display-name "Python (hwutils)"
	touch $@

run: setup
	$(BIN)/hwutils run --profile $(PROFILE) --jobs $(JOBS) $(ARGS)

pdf: setup
	$(BIN)/hwutils run --profile $(PROFILE) --jobs $(JOBS) --pdf $(ARGS)

test: setup
	$(BIN)/python -m pytest $(ARGS)

lab: setup
	$(BIN)/jupyter lab notebooks/

clean-reports:
	rm -rf reports/

clean: clean-reports
	rm -rf $(VENV) data/fixtures
