# The two commands a new user needs: `make demo` and `make test`. Each builds its own virtual environment.
# `make test-deployment` runs two nights through the distributed deployment (Airflow's CeleryExecutor, Redis,
# PostgreSQL) as separate processes: see docs/operations.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MASH_HOME ?= $(CURDIR)/var

.PHONY: install demo ui test test-deployment postgres redis browser clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.deploy-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,deploy]'
	touch $@

install: $(VENV)/.installed

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/demo

ui: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/ui

postgres:
	scripts/ensure-postgres

redis:
	scripts/ensure-redis

browser:
	scripts/ensure-chromium

test: install postgres browser
	$(BIN)/pytest

test-deployment: $(VENV)/.deploy-installed postgres redis
	$(BIN)/pytest -s tests/deployment

clean:
	rm -rf $(VENV) var .pytest_cache
