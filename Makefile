# The two commands of the README: `make signoff` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup signoff test lint unit smoke sensitivity stack clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Run the QA sign-off on the embedded local stack; prints GO / NO-GO and the report's path.
signoff: setup
	$(BIN)/easymo-qa signoff --env local

## The project's own checks: lint, unit tests, the smoke suite on the local stack, defect sensitivity.
test: lint unit smoke sensitivity

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(BIN)/pytest tests/unit -q -p no:cacheprovider

smoke: setup
	$(BIN)/pytest tests/smoke -q -n 2 -p no:cacheprovider

sensitivity: setup
	$(BIN)/easymo-qa sensitivity

stack: setup
	$(BIN)/easymo-qa stack up

clean:
	rm -rf $(VENV) reports/* .pytest_cache .ruff_cache
	touch reports/.keep
