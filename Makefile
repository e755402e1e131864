# The README's commands. Every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# sam validate and the offline run need a region but never credentials.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv offline-venv mermaid-parser report-png demo demo-own-data report test unit static lint build validate mapping schema clean

help:
	@echo "make demo      run the state machine end to end offline (INPUT=events/<file>.json or INPUT='{...}', ARGS='--max-jobs 4')"
	@echo "make demo-own-data  the same with your own data: events/own-data/*.csv and its execution input"
	@echo "make report    the report of a cloud execution: EXECUTION_ARN=arn:... [PROFILE=name] [REGION=region]"
	@echo "make test      run every offline test (sets up .venv on first use)"
	@echo "make bench     the benchmarks: quality, offline run, data generation, cold start (QUICK=1: shorter)"
	@echo "make build     sam build"
	@echo "make local-invoke  every function in a Lambda container (sam local invoke) with its events; needs Docker"
	@echo "make validate  sam validate --lint and cfn-lint"
	@echo "make mapping   regenerate the XGBoost image registry map in template.yaml"
	@echo "make schema    regenerate the execution input validator from schema/execution-input.schema.json"
	@echo "make report-png  render the default run's report and a failed tuning run's report to PNG (headless Chromium)"
	@echo "make clean     remove build output and the virtual environments (keeps reports/)"
	@echo "PYTHON=/path/to/python3.13  the interpreter for the virtual environments (default: found by .ci/find-python)"

# The interpreter the virtual environments are made with: Python 3.13 (the Lambda runtime's version), found by
# .ci/find-python unless named: make PYTHON=/path/to/python3.13 demo
PYTHON ?=
NEW_VENV = python="$(PYTHON)"; \
	if [ -z "$$python" ]; then python="$$(bash .ci/find-python)" || exit 1; fi; \
	"$$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
	|| { echo "make: PYTHON=$$python is not a Python 3.13 interpreter; name one: make PYTHON=/path/to/python3.13 ..." >&2; exit 1; }; \
	"$$python" -m venv

# Two steps: `make demo` installs only what the offline run needs (requirements-offline.txt), `make test` and
# the other development targets add the tools (requirements-dev.txt).
$(VENV)/.offline: requirements-offline.txt
	@test -x $(PY) || { $(NEW_VENV) $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-offline.txt
	@touch $@

$(VENV)/.installed: requirements-dev.txt $(VENV)/.offline
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed
offline-venv: $(VENV)/.offline

# The real definition on moto's Step Functions engine, the real handlers, SageMaker emulated on the CPU.
demo: offline-venv
	$(PY) -m offline $(if $(INPUT),--input '$(INPUT)') $(ARGS)

# The own-data example offline: its three CSV files (events/own-data/) put into the emulated S3 first.
OWN_DATA_BUCKET := s3://example-ml-datasets/housing
demo-own-data: offline-venv
	$(PY) -m offline --input events/execution_input_own_data.json \
		$(foreach f,train validation test,--upload events/own-data/$(f).csv=$(OWN_DATA_BUCKET)/$(f).csv)

# The report of a finished cloud execution: reads it (DescribeExecution) and its objects in S3 with your
# credentials, writes reports/<run name>/report.html. The offline run (make demo) writes one at its end.
report: offline-venv
	@test -n "$(EXECUTION_ARN)" || { echo "usage: make report EXECUTION_ARN=arn:aws:states:<region>:<account>:execution:<state machine>:<name> [PROFILE=name] [REGION=region]" >&2; exit 2; }
	$(PY) -m report --execution-arn "$(EXECUTION_ARN)" $(if $(PROFILE),--profile "$(PROFILE)") $(if $(REGION),--region "$(REGION)")

test: lint mermaid-parser
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

static: venv
	$(PY) -m pytest tests/static

# checkov pins an old boto3 that breaks aws-sam-cli: it gets a virtual environment of its own.
CHECKOV_VENV := .venv-checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || { $(NEW_VENV) $(CHECKOV_VENV); }
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

# sam builds a python3.13 function with the python3.13 on PATH: the virtual environment's.
build: venv
	sam build

mapping: venv
	$(PY) scripts/generate_xgboost_mapping.py

schema: venv
	$(PY) scripts/generate_input_validator.py

# Keeps reports/ (the runs' reports): remove it yourself when you no longer want them.
clean:
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV) $(MERMAID_DIR)/node_modules .pytest_cache .ruff_cache .hypothesis

# Measures the project's claims (model quality against the sample, offline run time, data set generation
# speed and memory, handler cold start): prints a table, writes bench/results.json. QUICK=1: fewer runs.
.PHONY: bench
bench: venv
	$(PY) -m bench.run $(if $(QUICK),--quick)

# Mermaid's own parser for tests/static/test_mermaid.py, pinned by its package-lock.json (npm ci; Node 20+).
MERMAID_DIR := tests/static/mermaid
mermaid-parser: $(MERMAID_DIR)/node_modules/.package-lock.json

$(MERMAID_DIR)/node_modules/.package-lock.json: $(MERMAID_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "make: npm (Node.js 20 or later) is needed to check the Mermaid diagrams" >&2; exit 1; }
	npm ci --prefix $(MERMAID_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

# Look at the report as a person first sees it: the default run's and a failed tuning run's, rendered to
# reports/png/*.png by headless Chromium (Debian package chromium: apt-get install chromium).
report-png: offline-venv
	$(PY) -m report.screenshots

# Every function under `sam local invoke` (sam build, then a Lambda container each) with every event of
# events/functions/<function>/, against moto's server as the fake AWS; outputs checked as the unit tests check
# them. Needs Docker; the base image is pulled, or built by scripts/lambda-base-image.sh where it cannot be.
# `make test` runs the same tests when a container engine answers and skips them otherwise; here a missing
# engine is a failure.
.PHONY: local-invoke
local-invoke: venv
	LOCAL_INVOKE_REQUIRED=1 $(PY) -m pytest tests/local_invoke
