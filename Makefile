# skyalert: `make run` sets up and runs the whole stack; `make test` sets up and runs the tests.
# Everything lands in .venv and var/ inside the checkout; system packages (Java, Maven,
# PostgreSQL) are installed from Debian's packages when missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup system lint pytest bench clean

run: setup system
	$(BIN)/skyalert up

test: setup system lint pytest

setup: $(STAMP)

$(STAMP): pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e ./client -e '.[dev]'
	touch $@

system:
	bash ops/local/ensure-system.sh
	$(BIN)/skyalert kafka fetch
	$(BIN)/skyalert schemas fetch

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: setup
	SKYALERT_TEST_POSTGRES_URL="$$(bash ops/local/ensure-postgres.sh)" $(BIN)/pytest

bench: setup system
	@for script in tests/bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
