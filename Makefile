# Leadflow: the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install system-deps lint format generate dashboards bench clean

demo: install  ## local broker, two workers, live synthetic events, Prometheus and Alertmanager if present
	$(BIN)/leadflow demo

test: install  ## lint, then the whole suite (starts its own Kafka and Prometheus)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

install: system-deps $(VENV)/.installed

system-deps:
	bash scripts/install-system-deps.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: install  ## ruff, and the import direction between packages (pyproject's contracts)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

generate: install  ## rewrite every generated file: recording rules (from the catalogue) and dashboards
	$(BIN)/python -m dashboards.generate

dashboards: install  ## regenerate the Grafana dashboards JSON from code
	$(BIN)/leadflow dashboards build

bench: install  ## the performance harness (separate from the tests): prints and saves a table
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
