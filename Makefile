# Two commands (README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: setup demo test clean-runs

setup: $(VENV)/.installed

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

clean-runs:
	rm -rf runs
