# gridbot: `make run` serves the demo, `make test` runs every test. Both set up from nothing.
PYTHON ?= python3
# pytest-xdist workers for `make test` (the fault tests keep to one of them: tests/conftest.py)
TEST_WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml setup.py nlu/_speedups.c Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml setup.py nlu/_speedups.c Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,embedding]'
	touch $@ $(STAMP_RUN)

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
