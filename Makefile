# The two commands of a fresh machine: `make run` (demo service) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-pg clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || (echo "Python 3.11+ is required" && exit 1)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pv-service demo --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n auto --ignore=tests/browser
	$(BIN)/python -m pytest -q tests/browser

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) data .pytest_cache

# BENCH_ARGS adds options to either run, e.g. make bench BENCH_ARGS='--scale spec' (see README, Benchmark).
BENCH_ARGS ?=
BENCH_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Every figure on PostgreSQL, each on a database of its own created and dropped by the bench; the digest at
# SPEC size (1 M cases, 100 k patients), the intake on two service instances sharing the database.
bench-pg: $(STAMP)
	$(BIN)/python bench/run.py --postgres $(BENCH_POSTGRES_URL) --results bench/results-pg.json \
		--digest-cases 1000000 --digest-patients 100000 --intake-instances 2 $(BENCH_ARGS)
