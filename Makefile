# Parley: `make run` starts everything, `make test` runs the whole suite; both set up a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint bench bench-widget services browser screenshots clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

services:
	bash scripts/ensure_services.sh

browser:
	bash scripts/ensure_browser.sh

run: $(STAMP)
	$(PY) scripts/run.py

test: $(STAMP) services browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

screenshots: $(STAMP) services browser
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/test_browser.py -k screenshots

bench: $(STAMP) services
	$(PY) bench/bench_profanity.py
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) bench/run_all.py

bench-widget: $(STAMP) browser
	$(PY) bench/widget_bench.py

clean:
	rm -rf $(VENV) instance/*.db* .pytest_cache
