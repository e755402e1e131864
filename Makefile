# The README's commands. Every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# sam validate and the offline run need a region but never credentials.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv demo demo-own-data report test unit static lint build validate mapping schema clean

help:
	@echo "make demo      run the state machine end to end offline (INPUT=events/<file>.json for another input)"
	@echo "make demo-own-data  the same with your own data: events/own-data/*.csv and its execution input"
	@echo "make report    the report of a cloud execution: EXECUTION_ARN=arn:... [PROFILE=name] [REGION=region]"
	@echo "make test      run every offline test (sets up .venv on first use)"
	@echo "make bench     the benchmarks: quality, offline run, data generation, cold start (QUICK=1: shorter)"
	@echo "make build     sam build"
	@echo "make local-invoke  every function in a Lambda container (sam local invoke) with its events; needs Docker"
	@echo "make validate  sam validate --lint and cfn-lint"
	@echo "make mapping   regenerate the XGBoost image registry map in template.yaml"
	@echo "make schema    regenerate the execution input validator from schema/execution-input.schema.json"
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

# The own-data example offline: its three CSV files (events/own-data/) put into the emulated S3 first.
OWN_DATA_BUCKET := s3://example-ml-datasets/housing
demo-own-data: venv
	$(PY) -m offline --input events/execution_input_own_data.json \
		$(foreach f,train validation test,--upload events/own-data/$(f).csv=$(OWN_DATA_BUCKET)/$(f).csv)

# The report of a finished cloud execution: reads it (DescribeExecution) and its objects in S3 with your
# credentials, writes reports/<run name>/report.html. The offline run (make demo) writes one at its end.
report: venv
	@test -n "$(EXECUTION_ARN)" || { echo "usage: make report EXECUTION_ARN=arn:aws:states:<region>:<account>:execution:<state machine>:<name> [PROFILE=name] [REGION=region]" >&2; exit 2; }
	$(PY) -m report --execution-arn "$(EXECUTION_ARN)" $(if $(PROFILE),--profile "$(PROFILE)") $(if $(REGION),--region "$(REGION)")

test: lint
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

static: venv
	$(PY) -m pytest tests/static

# checkov pins an old boto3 that breaks aws-sam-cli (REFERENCE section 6): it gets a virtual environment of its own.
CHECKOV_VENV := .venv-checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $$(bash .ci/find-python) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

# Style, then security: bandit on the functions, checkov on the template (it reads SAM resources and Globals;
# each check the template does not follow is skipped in the resource's Metadata with its reason).
# --skip-download: checkov would otherwise fetch guidelines from its vendor's API, which our machines cannot reach.
lint: venv $(CHECKOV_VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m bandit --quiet --recursive functions
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

validate: venv
	sam validate --lint
	cfn-lint template.yaml

build: venv
	sam build

mapping: venv
	$(PY) scripts/generate_xgboost_mapping.py

schema: venv
	$(PY) scripts/generate_input_validator.py

clean:
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .hypothesis reports

# Measures the project's claims (model quality against the sample, offline run time, data set generation
# speed and memory, handler cold start): prints a table, writes bench/results.json. QUICK=1: fewer runs.
.PHONY: bench
bench: venv
	$(PY) -m bench.run $(if $(QUICK),--quick)

# Every function under `sam local invoke` (sam build, then a Lambda container each) with every event of
# events/functions/<function>/, against moto's server as the fake AWS; outputs checked as the unit tests check
# them. Needs Docker; the base image is pulled, or built by scripts/lambda-base-image.sh where it cannot be.
# `make test` runs the same tests when a container engine answers and skips them otherwise; here a missing
# engine is a failure.
.PHONY: local-invoke
local-invoke: venv
	LOCAL_INVOKE_REQUIRED=1 $(PY) -m pytest tests/local_invoke
