# casebus: `make run` starts the system, `make test` runs every test against real services.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: run test unit integration lint bench infra-up infra-down clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "casebus needs Python 3.11 or newer")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/python -m casebus run

test: $(STAMP)
	sh infra/ensure-postgres.sh
	sh infra/ensure-chromium.sh
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m unit

integration: $(STAMP)
	sh infra/ensure-postgres.sh
	sh infra/ensure-chromium.sh
	$(BIN)/pytest -m integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

infra-up: $(STAMP)
	$(BIN)/casebus infra up

infra-down: $(STAMP)
	$(BIN)/casebus infra down

clean:
	-$(BIN)/casebus infra down
	rm -rf $(VENV) .casebus .pytest_cache .mypy_cache .ruff_cache .hypothesis
