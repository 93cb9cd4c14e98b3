# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean bench system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cti demo

lint: $(STAMP)
	$(BIN)/ruff check cti tests benchmarks
	$(BIN)/mypy

# chromium (browser test), espeak-ng, ffmpeg and docker-compose (the compose file's check,
# tests/test_compose.py) from Debian when missing and root; else a note.
system-deps:
	bash scripts/system-deps.sh

test: $(STAMP) system-deps lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
