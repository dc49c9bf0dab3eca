# options_pipeline — the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STATE ?= $(if $(OPTIONS_PIPELINE_HOME),$(OPTIONS_PIPELINE_HOME),$(CURDIR)/.options_pipeline)
export DAGSTER_HOME ?= $(STATE)/dagster_home
PYTEST_ARGS ?=
# make test runs its tests in this many processes (pytest-xdist), each with its own PostgreSQL
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-e2e lint ui db-stop bench bench-scale clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job end to end on the embedded default: database, schema, demo watchlist, backfill.
demo: install
	$(BIN)/options-pipeline db init
	$(BIN)/options-pipeline watchlist add demo SPY QQQ IWM AAPL
	$(BIN)/python -m scripts.ingest_options --provider sample \
		--start-date 2025-12-15 --end-date 2025-12-22
	@echo "Dealer metrics for 2025-12-19 and 2025-12-22 (runs in the Dagster instance the UI shows):"
	$(BIN)/options-pipeline metrics compute --start-date 2025-12-19 --end-date 2025-12-22
	$(BIN)/options-pipeline metrics show 2025-12-22
	@echo
	@echo "Demo data is the synthetic sample market (provider 'sample'), not market quotes."
	@echo
	@echo "Done. See the partitions in the Dagster UI: make ui  (then open http://127.0.0.1:3000)"

## Unit and integration tests (a real PostgreSQL started by the test session). Exit 5 = no tests.
test: install
	$(BIN)/ruff check options_pipeline options_pipeline_tests scripts
	$(BIN)/ruff format --check options_pipeline options_pipeline_tests scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not e2e" -n $(PYTEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
		[ $$rc -eq 5 ] && rc=0; exit $$rc

## End-to-end: real dagster-webserver + dagster-daemon subprocesses, PostgreSQL, the ingest_options CLI
## against a local Polygon server, headless Chromium (Debian's `chromium`, required: .ci/run
## installs it). Measured figures and the UI screenshot land in artifacts/e2e/. Exit 5 = no tests.
test-e2e: install
	$(BIN)/python -m pytest -m e2e options_pipeline_tests/e2e -v --durations=10 $(PYTEST_ARGS); \
		rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

## ruff (lint and format) and mypy (strict on options_pipeline/, see pyproject.toml)
lint: install
	$(BIN)/ruff check options_pipeline options_pipeline_tests scripts
	$(BIN)/ruff format --check options_pipeline options_pipeline_tests scripts
	$(BIN)/mypy

## The Dagster UI (webserver + daemon) on the project's instance.
ui: install
	$(BIN)/options-pipeline db init
	DAGSTER_PG_URL="$${DAGSTER_PG_URL:-$$($(BIN)/options-pipeline db dagster-url --show-password)}" \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

db-stop: install
	$(BIN)/options-pipeline db stop

## Benchmarks (on demand, ~5 min): one table of side-by-side ratios, written to BENCHMARKS.md.
bench: install
	$(BIN)/python -m options_pipeline_tests.benchmarks

## Year-scale benchmark (on demand, ~1 h; BENCH_SCALE_MONTHS=1 for a ~5 min run): one simulated
## year of 20 symbols x 6,000 contracts through ingest_options and the dealer backfill; writes its
## own section of BENCHMARKS.md. Parameters: BENCH_SCALE_{MONTHS,SYMBOLS,CONTRACTS,START,WRITE}.
bench-scale: install
	$(BIN)/python -m options_pipeline_tests.benchmarks.bench_scale

clean: db-stop
	rm -rf $(STATE)
