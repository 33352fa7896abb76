# Two commands on a fresh machine with Python 3.11 and make:
#   make run    start the CDS Hooks service on the example patients (demo) and print curls to try
#               (make run PORT=8001 for another port)
#   make test   run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || echo python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run check-example test lint bench bench-screen bench-revision clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11 or 3.12)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

DEMO_DB := test-artifacts/demo/audit.sqlite3
PORT ?= 8000
DEMO_URL := http://127.0.0.1:$(PORT)

# make run PORT=8001   another port when 8000 is taken
run: $(STAMP)
	@echo "ketamine-cds demo: CDS Hooks service on $(DEMO_URL) (CDS_AUTH=off, CDS_AS_OF=2025-06-02; local use only)."
	@echo "In another terminal, try:"
	@echo "  curl -s -X POST $(DEMO_URL)/cds-services/ketamine-cds-patient-view -H 'Content-Type: application/json' -d @fhir/examples/hooks/patient-view-trd.json"
	@echo "  curl -s -X POST $(DEMO_URL)/cds-services/ketamine-cds-order-sign -H 'Content-Type: application/json' -d @fhir/examples/hooks/order-sign-trd-esketamine-84mg.json"
	@echo "  curl -s -X POST $(DEMO_URL)/cds-services/ketamine-cds-order-select -H 'Content-Type: application/json' -d @fhir/examples/hooks/order-select-aneurysm-esketamine.json"
	@echo "  CDS_DATABASE_URL=sqlite:///$(CURDIR)/$(DEMO_DB) $(BIN)/cds audit"
	@echo "Open a card's links[0].url in a browser for the full report. Ctrl-C stops the service."
	@mkdir -p $(dir $(DEMO_DB))
	CDS_AUTH=off CDS_AS_OF=2025-06-02 CDS_DATABASE_URL=sqlite:///$(CURDIR)/$(DEMO_DB) $(BIN)/cds serve --host 127.0.0.1 --port $(PORT)

check-example: $(STAMP)
	$(BIN)/cds check fhir/examples/trd-eligible.json --as-of 2025-06-02

# Lint, types and the rule files (against the release lock, rules/release.yaml) are part of the
# tests; the coverage gate fails the run below 85% of cds/.
test: $(STAMP)
	$(BIN)/ruff check cds tests tools bench
	$(BIN)/mypy cds
	$(BIN)/cds rules lint
	$(BIN)/python -m pytest --cov=cds --cov-report=term:skip-covered --cov-fail-under=85

bench: $(STAMP)
	$(BIN)/python bench/run.py

# The assessment at another revision beside the working tree, interleaved in one run:
#   make bench-revision BASE=f80db5b
BASE ?= HEAD~1
bench-revision: $(STAMP)
	$(BIN)/python bench/revisions.py --base $(BASE)

# The screening cases alone (make bench runs them too): process pool and Dask, 1 and 2 workers.
bench-screen: $(STAMP)
	$(BIN)/python bench/run.py --only screen

lint: $(STAMP)
	$(BIN)/ruff check cds tests tools bench
	$(BIN)/ruff format --check cds tests tools bench
	$(BIN)/mypy cds

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
