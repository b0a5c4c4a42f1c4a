# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: demo test venv dev clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install -q -e .

dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: venv
	rm -rf $(DEMO)
	$(BIN)/leaksift sample $(DEMO)/leak --keys-out $(DEMO)/keys.zone
	$(BIN)/leaksift scan $(DEMO)/leak --db $(DEMO)/case.db --keys $(DEMO)/keys.zone --leaked-at 2017-05-05T22:00:00+02:00

test: dev
	bash scripts/test-services.sh
	$(BIN)/python -m pytest -q --durations=15

bench: dev
	bash scripts/bench-services.sh
	bash scripts/test-services.sh
	$(BIN)/python bench/ingest_throughput.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/checks_throughput.py
	$(BIN)/python bench/doc_throughput.py
	$(BIN)/python bench/web_load.py
	$(BIN)/python bench/search_latency.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) $(DEMO) build dist src/*.egg-info
