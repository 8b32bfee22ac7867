# The README's first two commands: `make demo` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
PROMTOOL := /usr/bin/promtool

.PHONY: demo test install bench clean tipline-messages

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

# promtool (Debian's prometheus package) checks and unit-tests config/prometheus-rules.yml in
# tests/unit/test_metrics.py. Only the binary is used: no Prometheus server is started.
$(PROMTOOL):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/threatline demo --data-dir $$(mktemp -d -t threatline-demo.XXXXXX)

test: $(STAMP) $(CHROMIUM) $(PROMTOOL)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bus_throughput.py
	$(BIN)/python bench/scale_out.py
	$(BIN)/python bench/store_bulk.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/retrain.py

# The tip line's translations (docs/tipline.md, "Languages"): the marked strings into the template,
# then merged into every catalog for translators. The tip line compiles the catalogs when it starts.
LOCALES := pipeline/tipline/locales
tipline-messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --no-wrap --sort-output -k N_ -k Message -c TRANSLATORS: \
		--project threatline --version 0.1.0 -o $(LOCALES)/tipline.pot pipeline/tipline
	$(BIN)/pybabel update --no-wrap --ignore-obsolete -D tipline -i $(LOCALES)/tipline.pot -d $(LOCALES)

clean:
	rm -rf $(VENV) data
