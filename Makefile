# The two commands a new user needs: `make demo` and `make test`. Each builds its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MASH_HOME ?= $(CURDIR)/var

.PHONY: install demo ui test postgres browser clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/demo

ui: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/ui

postgres:
	scripts/ensure-postgres

browser:
	scripts/ensure-chromium

test: install postgres browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var .pytest_cache
