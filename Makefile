# One command runs the app with demo data, one runs every test. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Database backends the tests run on; PostgreSQL is the server at 127.0.0.1:5432.
BACKENDS ?= sqlite,postgresql
# Extra pytest arguments (CI runs the R secr tests in a phase of their own).
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core; each has its own PostgreSQL database, SeaweedFS
# and browser. TEST_WORKERS=0 runs the tests in this one process.
TEST_WORKERS ?= auto
# Where R's secr is built (../shared/r/build.sh): outside the repository, kept between runs.
SECR_LIB ?= $(HOME)/.cache/tracker-r/lib

.PHONY: run install install-test test test-secr secr lint format bench clean

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
	scripts/redis-up.sh
	scripts/browser-up.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --backends $(BACKENDS) $(PYTEST_ARGS)

# R's secr from the sources in ../shared/r (about 10 minutes on 2 cores the first time; then a
# check of a second or two), and the tests that feed it the exports, which must not skip.
secr:
	../shared/r/build.sh $(SECR_LIB)

test-secr: install-test secr
	TRACKER_REQUIRE_SECR=1 TRACKER_SECR_LIB=$(SECR_LIB) \
		$(BIN)/python -m pytest --backends $(BACKENDS) tests/test_secr_r.py

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info node_modules tracker/static/vendor
