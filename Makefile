# emkit: the two commands a user needs are `make book` and `make test` (README.md).
# Everything is installed into ./.venv from the pinned lock file requirements.txt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.emkit-installed
PROFILE ?= default

.PHONY: env book quick test test-fast lab clean-book clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

## The whole book on the embedded default data: generate data, run every notebook with papermill, build HTML.
book: env
	$(BIN)/emkit book --profile $(PROFILE)

## The whole book at the quick (test) profile.
quick: env
	$(BIN)/emkit book --profile quick

## All tests: library, real-data lane, notebooks at the quick profile, and the book build.
test: env
	$(BIN)/python -m pytest

## Library tests only (no notebooks, no real data).
test-fast: env
	$(BIN)/python -m pytest -m "not notebooks and not realdata and not slow"

lab: env
	$(BIN)/jupyter lab notebooks/

clean-book:
	rm -rf _build book/*.ipynb book/_generated book/results.md book/provenance.md

clean: clean-book
	rm -rf $(VENV) data/generated
