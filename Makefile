# The README's first two commands: `make demo` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The browser tests drive Debian's chromium through Playwright (DESIGN.md §5), never a browser that
# `playwright install` downloads. Make runs this only when the file is missing; `make demo` never.
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/threatline demo --data-dir $$(mktemp -d -t threatline-demo.XXXXXX)

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bus_throughput.py
	$(BIN)/python bench/store_bulk.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/retrain.py

clean:
	rm -rf $(VENV) data
