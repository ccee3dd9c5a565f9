# rtmhub developer tasks.  `make run` = venv + install + migrate + demo data + serve on 127.0.0.1:8000.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RTMHUB := $(VENV)/bin/rtmhub
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist processes (decision 25); `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x -k csv"`.
PYTEST_ARGS ?=

.PHONY: run test lint bench install clean mutation mutation-report

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP) $@

install: $(STAMP)

run: $(STAMP)
	$(RTMHUB) demo --url http://$(HOST):$(PORT)
	$(RTMHUB) serve --host $(HOST) --port $(PORT)

# The structure's guards: ruff (pyflakes, pycodestyle, import order, bugbear, pyupgrade), the import
# contracts of pyproject.toml (domain free of adapters; adapters independent), mypy on the domain core.
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Every benchmark, figures printed and never asserted (README "Performance"): CSV import, the API under
# wrk load (needs Debian's wrk), SCIM Bulk, 1,000,000 users and the billing report at that scale
# (PostgreSQL from RTMHUB_TEST_POSTGRES_URL or the local server). One alone: `make bench BENCHES=bulk_import
# BENCH_ARGS="--rows 20000 --databases sqlite"`.
BENCHES ?= bulk_import api_load scim_bulk scale billing_report
BENCH_ARGS ?=
bench: $(TEST_STAMP)
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(PY) bench/$$b.py $(BENCH_ARGS) || exit 1; done

# Mutation testing of the rule modules (docs/testing.md): mutmut plants bugs in them and runs the rule tests
# (SQLite only) against each; prints killed/survived per module and the score. Not part of `make test`: it
# takes a long while. One module: `make mutation MODULES=domain/validation`; the table of the last run alone:
# `make mutation-report`. MUTATION_CHILDREN mutants are tested at once.
MODULES ?=
MUTATION_CHILDREN ?= 1
mutation: $(TEST_STAMP)
	$(PY) tools/mutation_report.py --run --max-children $(MUTATION_CHILDREN) $(MODULES)

mutation-report: $(TEST_STAMP)
	$(PY) tools/mutation_report.py $(MODULES)

# Removes build output, caches and the install stamps (the next make reinstalls); keeps .venv
# and the database file. `rm -rf .venv rtmhub.db` for a full reset.
clean:
	rm -rf build dist src/*.egg-info .pytest_cache .hypothesis test-artifacts mutants $(STAMP) $(TEST_STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
