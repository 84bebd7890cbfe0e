# The two commands: `make run` starts everything, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/energy_platform
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint bench chaos chaos-short install install-dev services clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	mkdir -p var
	bin/run

services:
	bin/ensure-services
	bin/ensure-browser

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DEBUG=1 $(PY) -m mypy .
	$(VENV)/bin/lint-imports

test: install-dev services lint
	DEBUG=1 TESTING=1 DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(PY) manage.py makemigrations --check --dry-run
	TESTING=1 DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		DEBUG=1 $(PY) -m pytest -n auto $(PYTEST_ARGS)

bench: install-dev services
	@for f in bench/*.py; do [ -e "$$f" ] || continue; [ "$$f" = bench/chaos.py ] && continue; echo "== $$f"; \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DEBUG=1 $(PY) $$f || exit 1; done

# The long chaos run (about half an hour): 1,000 kills. Not part of `make bench`.
chaos: install-dev services
	$(PY) bench/chaos.py --kills 1000 --withdrawals 300 --settle-seconds 600

# CI's short chaos run: 50 kills, outages of the devnet, Redis and PostgreSQL; all zeros or exit 1.
chaos-short: install-dev services
	$(PY) bench/chaos.py --kills 50 --withdrawals 40 --settle-seconds 300

clean:
	rm -rf $(VENV) var
