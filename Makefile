# Two commands (README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
# No MPLBACKEND here: `fgi run` gives its notebook kernels the inline backend itself (figures in
# the executed notebooks), the CLI's headless figures need no display, and JupyterLab (`make lab`)
# must keep its inline backend. The tests set Agg for themselves (tests/conftest.py).

.PHONY: setup demo test lab clean-runs

setup: check-python $(VENV)/.installed

# The pinned requirements need Python 3.11+: say so in one line before anything is installed.
PYTHON_VERSION = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
.PHONY: check-python
check-python:
	$(if $(filter ok,$(shell $(PYTHON) -c 'import sys; print("ok" if sys.version_info >= (3, 11) else "old")' 2>/dev/null)),,$(error fgi_core needs Python 3.11 or newer, but PYTHON=$(PYTHON) is $(if $(PYTHON_VERSION),Python $(PYTHON_VERSION),not found): run make setup PYTHON=python3.11 (or any newer python3)))

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check --no-deps -e .
	touch $@

## The main job: every notebook that exists, quick profile, synthetic data.
demo: setup
	$(BIN)/fgi run --profile quick --dataset synthetic

## The whole test suite: unit, real-data (skipped without ../shared/realdata) and nbval tests.
test: setup
	$(BIN)/python -m pytest

## The tutorial, interactively: JupyterLab on notebooks/ (01 ... 06, run them in order).
lab: setup
	$(BIN)/jupyter lab notebooks/

clean-runs:
	rm -rf runs
