# The two commands a newcomer needs: `make run` and `make test`. Each builds .venv itself when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench install clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev,joblib,ray]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/bedrock-evals run +experiment=quickstart

# Two workers for the bulk; the tests that time things or send signals (marked serial) then run alone.
test: lint
	@bash tests/setup-browser.sh
	@bash tests/setup-js.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m 'not serial'
	$(BIN)/python -m pytest -q -m serial

lint: $(STAMP)
	$(BIN)/ruff check evals tests bench
	$(BIN)/mypy

# Benchmarks of the harness itself (figures, not pass/fail); each prints its tables; see docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python bench/bench_emulator.py
	$(BIN)/python bench/bench_transport.py
	$(BIN)/python bench/bench_run.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_scale.py --records 1000000

clean-venv:
	rm -rf $(VENV)
