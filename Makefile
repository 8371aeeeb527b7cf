# Two commands matter (see README): `make demo` and `make test`.
# Everything else is plumbing they share.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 4566
# Where `make serve` / `make demo` keep their state (docs/local-state.md); `make clean-state` empties it.
PICKS_DATA_DIR ?= $(CURDIR)/.picks-data
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv lint test test-fast fuzz serve demo clean-state bench-import bench-events bench-accuracy bench-train bench-latency bench-batch bench-coldstart synth clean

venv: $(STAMP)

# picks (the layer's library) is installed in editable mode, so every entry point imports it without path
# settings; --no-deps: requirements.txt pins the environment.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# The gate CI runs before the tests: lint, formatting, types (strict on the layer); config in pyproject.toml.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: venv
	$(PY) -m pytest -n 2 --dist loadfile tests

test-fast: venv
	$(PY) -m pytest -n 2 --dist loadfile tests -m "not infrastructure"

# 10,000+ model-driven requests against the three APIs over HTTP; figures go to docs/benchmarks.md.
fuzz: venv
	$(PY) -m bench.fuzz_bench

serve: venv
	PORT=$(PORT) PICKS_DATA_DIR="$(PICKS_DATA_DIR)" $(PY) -m emulator serve

# `make demo VERBOSE=1` shows the training jobs' and server's logs with the report (else: a log file).
demo: venv
	PORT=$(PORT) PICKS_DATA_DIR="$(PICKS_DATA_DIR)" $(PY) -m emulator demo $(if $(VERBOSE),--verbose)

# Start the next `make serve` / `make demo` empty (stop the server first).
clean-state:
	rm -rf "$(PICKS_DATA_DIR)"

bench-import: venv
	$(PY) -m bench.import_bench

bench-events: venv
	$(PY) -m bench.events_bench

bench-accuracy: venv
	$(PY) -m bench.accuracy_bench

bench-train: venv
	$(PY) -m bench.train_bench

bench-batch: venv
	$(PY) -m bench.batch_bench

bench-coldstart: venv
	$(PY) -m bench.coldstart_bench

bench-latency: venv
	$(PY) -m bench.latency_bench
	$(PY) -m bench.rules_latency_bench

synth: venv
	$(PY) app.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
