# gridbot: `make run` serves the demo, `make test` runs every test. Both set up from nothing.
PYTHON ?= python3
# pytest-xdist workers for `make test` (the fault tests keep to one of them: tests/conftest.py)
TEST_WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
# The browser tests drive Debian's Chromium (tests/browser); GRIDBOT_TEST_CHROMIUM names another.
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml setup.py nlu/_speedups.c Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml setup.py nlu/_speedups.c Makefile | $(BIN)/python $(if $(GRIDBOT_TEST_CHROMIUM),,$(CHROMIUM))
	$(BIN)/pip install --quiet -e '.[test,embedding]'
	touch $@ $(STAMP_RUN)

# Installed once from Debian when missing (as root, as on CI); the package lists are fetched only
# when the install cannot go ahead without them. Playwright's own browser download is not used.
$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make: $(CHROMIUM) is missing and only root can install it (apt-get install chromium);" \
	       "the browser tests will be skipped, or fail under CI=true"; \
	else \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
	  || { echo "make: reading Debian's package lists first"; apt-get update -qq \
	       && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; \
	fi

run: $(STAMP_RUN)
	mkdir -p var
	$(BIN)/gridbot migrate
	$(BIN)/gridbot demo --if-empty
	$(BIN)/gridbot serve --no-migrate

test: $(STAMP_TEST)
	$(BIN)/ruff check bot domain nlu handlers storage tests bench
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP_TEST)
	$(BIN)/ruff check bot domain nlu handlers storage tests bench

bench: $(STAMP_TEST)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
