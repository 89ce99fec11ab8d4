# The two commands of the README: `make demo` and `make test`.
# Each creates .venv with Python 3.11 and installs the project on its own.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A test process per core (at most four), each with its own embedded database
# and browser; a test file stays on one process, so its module fixtures are
# made once. (Schemathesis's cases share one test id: a parallel run counts
# them as one in its summary, -v shows each.)
PARALLEL ?= -n auto --maxprocesses=4 --dist loadfile

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.1"
	$(BIN)/python -m pip install --quiet -e ".[test,embedded,rasa]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/audience demo

test: $(STAMP)
	bash .ci/services
	bash .ci/chromium
	$(BIN)/ruff check plugin connectors runtime simulator tests bench scenarios rasa_sdk_plugins
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest $(PARALLEL)

lint: $(STAMP)
	$(BIN)/ruff check plugin connectors runtime simulator tests bench scenarios rasa_sdk_plugins
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/python bench/capture.py

clean:
	rm -rf $(VENV) build *.egg-info
