# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-fast lint install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# PyTorch's CPU build (the tests run every Keras backend): the wheel this project's machines
# keep locally; elsewhere PyPI's default build.
TORCH ?= torch==2.13.0+cpu

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet "$(TORCH)" || $(BIN)/pip install --quiet torch
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/aezoo quickstart

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -q

# Everything but the tests marked slow, in under two minutes.
test-fast: install
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache
