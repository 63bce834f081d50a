# The two commands that matter: `make up` (run the whole suite) and `make test`.
# Both set up everything they need on a fresh machine of this kind.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install browser tools up down status restart logs migrate seed env test test-unit test-integration lint format audit bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

browser:             ## Debian's chromium + chromium-driver for the browser tests (apt, when missing)
	@sh ops/browser.sh

tools:               ## kubectl + docker-compose for the deployment tests (apt, when missing)
	@sh ops/tools.sh

up: install          ## create databases, migrate, seed, start every process, wait until ready
	$(PY) -m ops up

down: install        ## stop every process
	$(PY) -m ops down

status: install
	$(PY) -m ops status

restart: install     ## make restart C=billing
	$(PY) -m ops restart $(C)

logs:                ## make logs C=billing
	tail -n 100 -f var/log/$(C).log

migrate: install
	$(PY) -m ops migrate

seed: install
	$(PY) -m ops seed

env: install
	$(PY) -m ops env

test: install browser tools ## every test: unit and integration (needs RabbitMQ + PostgreSQL, or Docker), then the dependency audit
	$(PY) -m pytest
	$(PY) -m ops.dependency_audit --when-reachable

test-unit: install tools
	$(PY) -m pytest -m "not integration"

test-integration: install browser
	$(PY) -m pytest -m integration

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install       ## every benchmark on a suite of its own (make bench B=terminal: one); see docs/performance.md
	@sh ops/wrk.sh
	$(PY) -m bench $(or $(B),all)

audit: install       ## known vulnerabilities with a fix in the installed dependencies (pip-audit)
	$(PY) -m ops.dependency_audit

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
