# The human interface. Every target that needs Python first makes sure .venv matches
# requirements.txt (created, or re-installed when requirements.txt is newer).
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-from-requirements

# Stage commands say `python`/`dvc`: they must be the virtual environment's.
export PATH := $(BIN):$(PATH)
# Nothing phones home while running.
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1

.DEFAULT_GOAL := help
.PHONY: help install repro test test-fast lint dag lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	touch $@

install: $(STAMP) ## create or refresh .venv from requirements.txt

repro: $(STAMP) ## run the whole pipeline (dvc repro) on the real data
	dvc repro

test: $(STAMP) ## run the whole test suite, slow integration tests included
	python -m pytest

test-fast: $(STAMP) ## run the unit tests only
	python -m pytest -m "not slow"

lint: $(STAMP) ## check style with ruff
	ruff check src tests
	ruff format --check src tests

dag: $(STAMP) ## draw the stage graph
	dvc dag

lock: ## recompile requirements.txt from requirements.in (needs uv)
	uv pip compile requirements.in --generate-hashes --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --no-header -o requirements.txt

clean: ## remove the virtual environment and caches (not data or the DVC cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache
