# The README's first two commands: `make demo` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/threatline demo --data-dir $$(mktemp -d -t threatline-demo.XXXXXX)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bus_throughput.py
	$(BIN)/python bench/store_bulk.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/alert_latency.py

clean:
	rm -rf $(VENV) data
