# Two commands (README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
# No MPLBACKEND here: `fgi run` gives its notebook kernels the inline backend itself (figures in
# the executed notebooks), the CLI's headless figures need no display, and JupyterLab (`make lab`)
# must keep its inline backend. The tests set Agg for themselves (tests/conftest.py).

.PHONY: setup demo test test-all lab clean-runs

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

## The fast tier: unit tests, real-data tests (skipped without ../shared/realdata) and the six
## notebooks executed once (quick profile, synthetic data). Under 6 minutes on 2 idle cores.
test: setup
	$(BIN)/python -m pytest -m "not slow"

## Everything: the fast tier plus every other dataset's notebooks, the resume and sweep runs,
## the JupyterLab browser test and data-parallel training (CI runs this).
test-all: setup
	$(BIN)/python -m pytest

## The tutorial, interactively: JupyterLab with the repository as its root (so docs/ links work),
## opened on notebook 01. As root (containers, cloud notebooks) it adds --allow-root. On a server:
## make lab LAB_ARGS="--no-browser --port 8888 --ip 0.0.0.0", then open the printed URL with its token.
LAB_ARGS ?=
lab: setup
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS) notebooks/01_gaze_preprocessing.ipynb

clean-runs:
	rm -rf runs
