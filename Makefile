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

# One worker per core (up to 4), whole files per worker: an integration file's
# module-scoped repositories are then built once.
test: $(STAMP) ## run the whole test suite, slow integration tests included (in parallel)
	python -m pytest -n auto --maxprocesses 4 --dist loadfile

test-fast: $(STAMP) ## run the unit tests only
	python -m pytest -m "not slow"

lint: $(STAMP) ## check style with ruff
	ruff check src tests bench
	ruff format --check src tests bench

dag: $(STAMP) ## draw the stage graph
	dvc dag

.PHONY: bench bench-quick
bench: $(STAMP) ## measure time, memory, DVC overhead, scaling (~40 min; quiet machine) into BENCHMARKS.md
	python -m bench.run --out BENCHMARKS.md
bench-quick: $(STAMP) ## the same at 1x, one run each (~3 min) into bench-results/BENCHMARKS-quick.md
	python -m bench.run --quick --out bench-results/BENCHMARKS-quick.md

.PHONY: push pull reproduce
push: $(STAMP) ## send this commit's outputs and the run-cache to the remote (REMOTE=s3 for another)
	dvc push --run-cache $(if $(REMOTE),--remote $(REMOTE))
	python -m src.remote.run_cache $(if $(REMOTE),--remote $(REMOTE))
pull: $(STAMP) ## fetch this commit's outputs and the run-cache from the remote (REMOTE=s3 for another)
	dvc pull --run-cache $(if $(REMOTE),--remote $(REMOTE))
reproduce: $(STAMP) ## fetch and verify any commit's outputs in its own worktree: make reproduce REV=<commit>
	python -m src.remote.reproduce $(if $(REV),$(REV),$(error set REV, e.g. make reproduce REV=HEAD~1)) $(if $(REMOTE),--remote $(REMOTE))

.PHONY: report gate
BASE ?= main
report: $(STAMP) ## the pull-request report of the workspace against BASE (default main): reports/report.md
	python -m src.review.report --base $(BASE)
gate: $(STAMP) ## fail when a primary test metric is below its floor or really worse than BASE
	python -m src.review.gate --base $(BASE)

.PHONY: sweep compare promote
SPEC ?= sweeps/default.yaml
JOBS ?= $(shell nproc)
TOP ?= 3
sweep: $(STAMP) ## queue the sweep in SPEC, run it on JOBS workers (default: all cores), report
	python -m src.experiments.sweep --spec $(SPEC) --jobs $(JOBS)
compare: $(STAMP) ## this commit's experiments, best validation first; plots of the TOP 3 in reports/sweep-plots
	python -m src.experiments.sweep --compare --top $(TOP)
promote: $(STAMP) ## commit the experiment best on validation select.metric (BRANCH=x: make a branch instead)
	python -m src.experiments.promote $(if $(BRANCH),--branch $(BRANCH))

lock: ## recompile requirements.txt from requirements.in (needs uv)
	uv pip compile requirements.in --generate-hashes --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --no-header -o requirements.txt

clean: ## remove the virtual environment and caches (not data or the DVC cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache
