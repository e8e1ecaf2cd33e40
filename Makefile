# Enclave: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The services pass of `make test` (PostgreSQL + Redis); .ci/run exports the same values.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/enclave
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_WORKERS ?= 2
# Debian packages `make run` needs: python-ldap (django-auth-ldap) compiles against OpenLDAP;
# clamav-daemon is the virus scanner `make serve` starts next to Enclave (var/clamd/).
DEBIAN_RUN_PACKAGES ?= gcc libc6-dev python3-dev libldap2-dev libsasl2-dev clamav-daemon
# Debian packages the test suite needs (installed by `make test` when run as root); slapd and
# ldap-utils run the throwaway directory of the `ldap` tests; clamav-daemon (above) also the
# throwaway clamd of the `clamav` tests (our own test signatures, nothing downloaded); chromium the
# headless browser of the `browser` tests (tests/e2e, driven by Playwright; no browser download),
# fonts-noto-cjk lets their Chinese screenshots show characters. debootstrap builds the Debian 12
# root of the `deploy` tests' throwaway hosts (tests/deploy/hosts.py), reached with openssh-client.
# postgresql-client (pg_dump, pg_restore) and rsync: the backup and restore-drill tests (tests/ops).
# prometheus: the `prometheus` test scrapes a live Enclave with it (tests/ops). coturn: the
# throwaway TURN server of the `turn` tests (tests/calls/turn_server.py). The exporters and nginx
# feed every dashboard panel and alert expression in tests/ops/test_dashboards_prometheus.py.
DEBIAN_TEST_PACKAGES ?= gettext $(DEBIAN_RUN_PACKAGES) slapd ldap-utils chromium fonts-noto-cjk \
  debootstrap openssh-client iproute2 postgresql-client rsync prometheus coturn janus \
  prometheus-node-exporter prometheus-postgres-exporter prometheus-redis-exporter \
  prometheus-nginx-exporter prometheus-blackbox-exporter nginx

.PHONY: help run test venv deps deps-dev system-deps system-deps-run migrate demo serve lint types \
        pytest-embedded pytest-services format messages clean bundle

help:
	@echo "make run    - start Enclave with demo data at http://$(HOST):$(PORT)/"
	@echo "make test   - install test dependencies, then lint, type-check and run the full suite"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 ($(PYTHON)) is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python

$(VENV)/.deps-base: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/base.txt
	@touch $@

$(VENV)/.deps-dev: requirements/base.txt requirements/local.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/local.txt
	@touch $@ $(VENV)/.deps-base

deps: $(VENV)/.deps-base
deps-dev: $(VENV)/.deps-dev

# Installs missing Debian packages when we are root on Debian/Ubuntu; otherwise says what to do.
system-deps:
	@$(MAKE) --no-print-directory system-deps-run DEBIAN_RUN_PACKAGES="$(DEBIAN_TEST_PACKAGES)"

# The same for the packages `make run` needs (DEBIAN_RUN_PACKAGES).
system-deps-run:
	@missing=""; for p in $(DEBIAN_RUN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian packages:$$missing"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; }); \
	  else echo "Please install:$$missing (sudo apt-get install$$missing)"; fi; fi

migrate: deps
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py migrate --noinput -v0

demo: migrate
	@DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py seed_demo
	@DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py seed_helpdesk_demo
	@DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py assistant_demo

# daphne runs under `with_local_clamd`: a clamd of its own (var/clamd/, the system's signatures
# if freshclam installed any, plus ours) scans uploads, and stops with it. One line says whether
# scanning is active; without clamd, Enclave still starts and uploads fail closed.
# Debug pages (URL lists, tracebacks) only when a developer asks: `make run DEBUG=1`.
serve:
	@echo ""
	@echo "  Enclave is running at http://$(HOST):$(PORT)/"
	@echo "  Admin console (owner, admins): http://$(HOST):$(PORT)/admin/"
	@echo "  API docs: http://$(HOST):$(PORT)/api/docs/   (Ctrl-C stops; another port: make run PORT=8080)"
	@echo ""
	@ENCLAVE_DEBUG=$(if $(filter 1 true yes,$(DEBUG)),true,false) \
	  DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py with_local_clamd -- \
	  $(BIN)/daphne -b $(HOST) -p $(PORT) --proxy-headers config.asgi:application

## make run: virtualenv, install, migrate, demo company, then daphne on 127.0.0.1:8000.
run: system-deps-run demo serve

lint: deps-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

types: deps-dev
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/mypy

# `--dist loadfile`: a test file runs on one worker, so its module fixtures (a live server, the
# deploy tests' converged hosts) are set up once, not once per worker at the same time.
# Pass 1: the embedded default (SQLite, in-memory channel layer, eager tasks). The `deploy` tests
# (Debian hosts, Ansible) and the `chaos` test (its own PostgreSQL and Redis) do not depend on
# the pass; they run once, in pass 2.
pytest-embedded: deps-dev
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile \
	  -m "not postgres and not redis and not deploy and not chaos" $(PYTEST_ARGS)

# Pass 2: the production stack (PostgreSQL + Redis), including the tests marked for them.
# Locally it is skipped with a notice when they are not reachable; CI requires them.
pytest-services: deps-dev
	@if $(BIN)/python -c "import socket,sys; from urllib.parse import urlparse as u; \
	  [socket.create_connection((u(x).hostname, u(x).port), 1).close() for x in sys.argv[1:]]" \
	  "$(TEST_DATABASE_URL)" "$(TEST_REDIS_URL)" 2>/dev/null; then \
	  DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" \
	    $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); \
	elif [ "$$ENCLAVE_REQUIRE_SERVICES" = "1" ]; then \
	  echo "PostgreSQL/Redis not reachable and ENCLAVE_REQUIRE_SERVICES=1"; exit 1; \
	else echo "NOTICE: PostgreSQL or Redis not reachable: the services pass was SKIPPED."; fi

## make test: everything a green CI needs.
test: system-deps deps-dev lint types pytest-embedded pytest-services

format: deps-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-extract and compile translations (needs gettext); the compiled .mo files are committed.
messages: deps-dev
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py makemessages \
	  -l zh_Hans --ignore=.venv --ignore=var --ignore=tests --ignore=staticfiles
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py makemessages \
	  -d djangojs -l zh_Hans --ignore=.venv --ignore=var --ignore=tests --ignore=staticfiles
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py compilemessages \
	  --ignore=.venv

# The offline release bundle under var/bundle/ (docs/deployment.md): app, wheelhouse, apt
# repository, SHA-256 manifest (signed when ENCLAVE_BUNDLE_GPG_KEY names a gpg key).
bundle: $(BIN)/python
	$(BIN)/python ansible/bundle/build.py $(BUNDLE_ARGS)

clean:
	rm -rf $(VENV) var
