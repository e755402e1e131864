# The README's commands. Every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# sam validate and the offline run need a region but never credentials.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv demo test unit static lint build validate mapping clean

help:
	@echo "make demo      run the state machine end to end offline (INPUT=events/<file>.json for another input)"
	@echo "make test      run every offline test (sets up .venv on first use)"
	@echo "make build     sam build"
	@echo "make validate  sam validate --lint and cfn-lint"
	@echo "make mapping   regenerate the XGBoost image registry map in template.yaml"
	@echo "make clean     remove build output and the virtual environment"

$(VENV)/.installed: requirements-dev.txt
	@test -x $(PY) || $$(bash .ci/find-python) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

# The real definition on moto's Step Functions engine, the real handlers, SageMaker emulated on the CPU.
demo: venv
	$(PY) -m offline $(if $(INPUT),--input $(INPUT))

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

static: venv
	$(PY) -m pytest tests/static

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

validate: venv
	sam validate --lint
	cfn-lint template.yaml

build: venv
	sam build

mapping: venv
	$(PY) scripts/generate_xgboost_mapping.py

clean:
	rm -rf .aws-sam $(VENV) .pytest_cache .ruff_cache
