# Two commands on a fresh machine with Python 3.11 and make:
#   make run    assess the built-in example patients
#   make test   run the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11 or 3.12)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cds check fhir/examples/trd-eligible.json --as-of 2025-06-02

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check cds tests
	$(BIN)/mypy cds

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
