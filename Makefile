# carewatch: `make demo` runs the platform with simulated residents; `make test` installs the test services and
# runs every test; `make check` adds the linters.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test check lint services clean

$(INSTALLED): pyproject.toml package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	npm ci --no-audit --no-fund --silent  # uPlot for the dashboard's charts (node_modules/, served by the dashboard)
	touch $@

demo: $(INSTALLED)
	$(BIN)/carewatch demo

services:
	scripts/install-services

test: $(INSTALLED) services
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

clean:
	rm -rf $(VENV) carewatch-data test-artifacts .pytest_cache .mypy_cache .ruff_cache
