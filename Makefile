# emkit: the two commands a user needs are `make book` and `make test` (README.md).
# Everything is installed into ./.venv from the pinned lock file requirements.txt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.emkit-installed
PROFILE ?= default
UV     := uv==0.13.9

.PHONY: env book quick test test-fast lab clean-book clean

env: $(STAMP)

# The lock file goes in with uv, about twice as fast as pip on a fresh clone (tools/uv_index_args.py says how much
# and hands uv the indexes pip is configured with); pip does it when uv cannot be had or fails. Bytecode is compiled
# at install time because some machines set PYTHONDONTWRITEBYTECODE, and then every import would compile afresh.
# If pip's indexes cannot be read, uv is not run at all: alone it would fetch torch's CUDA build from PyPI.
$(STAMP): requirements.txt pyproject.toml tools/uv_index_args.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if $(BIN)/python -m pip install --quiet $(UV) && \
	    uv_index_args="$$($(BIN)/python tools/uv_index_args.py)" && \
	    $(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode \
	        $$uv_index_args -r requirements.txt; then \
	    echo "installed requirements.txt with uv"; \
	else \
	    echo "uv failed or could not be installed; installing requirements.txt with pip (slower)"; \
	    $(BIN)/python -m pip install --quiet -r requirements.txt; \
	fi
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
