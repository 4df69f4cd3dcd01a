# One command runs the app with demo data, one runs every test. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Database backends the tests run on; PostgreSQL is the server at 127.0.0.1:5432.
BACKENDS ?= sqlite,postgresql

.PHONY: run install install-test test lint format bench clean

run: install
	$(BIN)/tracker db upgrade
	$(BIN)/tracker demo --if-empty
	# The background worker (card imports, previews) runs beside the web server and stops with it.
	$(BIN)/tracker worker & worker=$$!; trap 'kill -INT $$worker' EXIT; \
	$(BIN)/tracker run --host $(HOST) --port $(PORT)

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	scripts/vendor-assets.sh
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

test: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if echo "$(BACKENDS)" | grep -q postgresql; then scripts/postgres-up.sh; fi
	scripts/browser-up.sh
	$(BIN)/python -m pytest --backends $(BACKENDS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info node_modules tracker/static/vendor
