# Fentu IdP: developer tasks (GNU make).
#
#   make run      a local IdP on http://localhost:8000 with demo accounts, plus a demo app on :9000
#   make test     the test suite, on SQLite and (when it is reachable) on PostgreSQL, side by side
#   make bench    the benchmarks (bench/run.py)
#   make install / install-test    the virtualenv in .venv, with or without the test extras
#   make clean    remove .venv, instance/ and caches
#
# Variables: PYTEST_ARGS (extra pytest arguments), PYTHON (interpreter that creates .venv),
# INSTANCE (folder of `make run`'s config, database and demo credentials), PG_TEST_URL.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
INSTANCE    ?= instance
PYTEST_ARGS ?=
PG_HOST     := 127.0.0.1
PG_PORT     := 5432
PG_TEST_URL ?= postgresql+psycopg://postgres@$(PG_HOST):$(PG_PORT)/test

.PHONY: help run test lint install install-test install-bench install-demo clean bench system-deps postgres

help:
	@sed -n '3,10s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# --- virtualenv ------------------------------------------------------------------------------------
# One stamp file per set of extras: pip runs again only when pyproject.toml or the compiled part (setup.py,
# idp/security/_argon2_area.c: argon2's allocation callbacks, optional) changes.
BUILD_INPUTS = pyproject.toml setup.py idp/security/_argon2_area.c

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

$(VENV)/.installed-bench: $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	@touch $@

# The demo relying party uses authlib's Flask client, which makes its HTTP calls with `requests`.
$(VENV)/.installed-demo: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[demo]'
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench
install-demo: $(VENV)/.installed-demo

# --- make run --------------------------------------------------------------------------------------

$(INSTANCE)/config.toml: | $(VENV)/.installed
	$(BIN)/idp init $(INSTANCE) --development

run: install install-demo $(INSTANCE)/config.toml
	IDP_CONFIG=$(INSTANCE)/config.toml $(BIN)/idp db upgrade
	IDP_CONFIG=$(INSTANCE)/config.toml $(BIN)/python scripts/demo_seed.py --instance $(INSTANCE)
	IDP_CONFIG=$(INSTANCE)/config.toml exec $(BIN)/python scripts/run_demo.py --instance $(INSTANCE)

# --- make test -------------------------------------------------------------------------------------

# Debian's Chromium (the browser tests drive it through playwright; playwright never downloads one)
# and oathtool (an independent TOTP implementation the tests compare against).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v oathtool >/dev/null 2>&1 || missing="$$missing oathtool"; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Start the local PostgreSQL cluster when it is installed but down; create the `test` database if needed.
postgres:
	@if command -v pg_isready >/dev/null 2>&1; then \
	  if ! pg_isready -q -h $(PG_HOST) -p $(PG_PORT); then \
	    for version in $$(ls /etc/postgresql 2>/dev/null); do \
	      echo "==> starting PostgreSQL $$version"; \
	      pg_ctlcluster --skip-systemctl-redirect $$version main start || true; \
	    done; \
	    for i in $$(seq 1 20); do pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && break; sleep 0.5; done; \
	  fi; \
	  if pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && command -v psql >/dev/null 2>&1; then \
	    psql -h $(PG_HOST) -p $(PG_PORT) -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" \
	      | grep -q 1 || psql -h $(PG_HOST) -p $(PG_PORT) -U postgres -d postgres -qc 'CREATE DATABASE test' || true; \
	  fi; \
	fi

# Both runs always happen, side by side: neither pytest keeps a core busy (they wait on servers, PostgreSQL,
# timeouts), so on 2 cores the two together take little longer than the longer one alone. SQLite's output
# shows as it runs, PostgreSQL's goes to $(TEST_LOG_DIR)/test-postgresql.log and is printed when both have
# ended; make test fails when either fails. Each run has its own database (PostgreSQL: one per run, named
# at random), so they never collide. The browser tests need not run twice: PostgreSQL runs `-m "not browser"`.
TEST_LOG_DIR := build
test: install-test system-deps postgres lint
	@mkdir -p $(TEST_LOG_DIR); pg_log=$(TEST_LOG_DIR)/test-postgresql.log; pgpid=""; rm -f $$pg_log; \
	trap '[ -n "$$pgpid" ] && kill $$pgpid 2>/dev/null; exit 130' INT TERM; \
	echo; echo "==> [1/2] pytest on SQLite (every test, browser tests included): its output below"; \
	if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h $(PG_HOST) -p $(PG_PORT); then \
	  echo "==> [2/2] pytest on PostgreSQL ($(PG_TEST_URL)), -m 'not browser': at the same time," \
	       "its output in $$pg_log (printed when both have ended)"; \
	  IDP_TEST_DATABASE_URL='$(PG_TEST_URL)' $(BIN)/pytest -q -m "not browser" $(PYTEST_ARGS) </dev/null >$$pg_log 2>&1 & \
	  pgpid=$$!; \
	fi; \
	env -u IDP_TEST_DATABASE_URL $(BIN)/pytest -q $(PYTEST_ARGS); sqlite=$$?; \
	if [ -n "$$pgpid" ]; then \
	  if kill -0 $$pgpid 2>/dev/null; then echo; echo "==> waiting for the PostgreSQL run ($$pg_log)"; fi; \
	  wait $$pgpid; pg=$$?; pgpid=""; \
	  echo; echo "==> [2/2] pytest on PostgreSQL ($(PG_TEST_URL)), -m 'not browser': its output ($$pg_log)"; \
	  cat $$pg_log; \
	  if [ $$pg -eq 5 ]; then echo "(no non-browser test was selected for PostgreSQL)"; pg=0; fi; \
	  pg_result=$$([ $$pg -eq 0 ] && echo passed || echo "FAILED (exit $$pg)"); \
	else \
	  pg=0; pg_result="SKIPPED: nothing listens on $(PG_HOST):$(PG_PORT)"; \
	fi; \
	echo; echo "==> SQLite: $$([ $$sqlite -eq 0 ] && echo passed || echo "FAILED (exit $$sqlite)")"; \
	echo "==> PostgreSQL: $$pg_result"; \
	[ $$sqlite -eq 0 ] && [ $$pg -eq 0 ]

# The linter the code's `noqa` markers refer to (configured in pyproject.toml, [tool.ruff]).
lint: install-test
	@echo "==> ruff check"; $(BIN)/ruff check idp tests bench scripts migrations

# --- make bench ------------------------------------------------------------------------------------

bench: install-bench
	$(BIN)/python bench/run.py

# --- make clean ------------------------------------------------------------------------------------

clean:
	rm -rf $(VENV) $(INSTANCE) .pytest_cache .hypothesis build *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
