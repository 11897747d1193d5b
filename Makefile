# mmpipe: `make demo` runs the whole pipeline on the embedded demo corpus; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test test-fast bench lint serve stop clean

setup: $(STAMP)

# Re-installs only when the dependency files change, so `make setup` is quick when already done.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/mm demo

test: setup
	$(PY) -m pytest -q -m "not bench"

test-fast: setup
	$(PY) -m pytest -q -m "not bench and not slow"

bench: setup
	$(PY) -m pip install -q -c constraints.txt -r bench/requirements.txt
	$(PY) bench/run_all.py

lint: setup
	$(VENV)/bin/ruff check mmdata mmmodel flows tests bench

serve: setup
	$(PY) -m flows.serve start

stop:
	$(PY) -m flows.serve stop

clean:
	rm -rf data/raw data/shards models reports .prefect

.PHONY: robustness
# Long fault-injection sweep (20 trials per stage) + hostile corpus -> reports/robustness.md.
robustness: setup
	$(PY) bench/fault_bench.py
	$(PY) bench/robustness_report.py
