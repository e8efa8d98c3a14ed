# Two commands for a newcomer: `make run` and `make test`. Everything else here serves them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint messages clean

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "需要 Python 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: install, migrate, load seed policies and demo data, print the logins, serve http://127.0.0.1:8000/
run: install
	DEBUG=1 $(PY) manage.py migrate --no-input
	DEBUG=1 $(PY) manage.py seed_demo --if-empty
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

## make test: install and run the whole suite (SQLite unless DATABASE_URL is set)
test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

## make messages: refresh and compile the Chinese translation (needs gettext)
messages: install
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans --no-obsolete --no-location --ignore ".venv/*" --ignore "bench/*"
	DEBUG=1 $(PY) manage.py compilemessages -l zh_Hans --ignore ".venv/*"

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
