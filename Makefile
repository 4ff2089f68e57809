# The two commands that matter: `make run` and `make test`. They need Python 3.11 or newer.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NEW_ENOUGH := import sys; sys.exit(sys.version_info < (3, 11))
CANDIDATES := python3.13 python3.12 python3.11 python3

# The interpreter that builds .venv: PYTHON when given, else the first candidate that runs and is new enough (a pyenv
# shim for a version that is not installed is on PATH but does not run). Only looked up when .venv is (re)built.
PYTHON ?= $(firstword $(foreach p,$(CANDIDATES),$(shell $(p) -c '$(NEW_ENOUGH)' >/dev/null 2>&1 && echo $(p))))

# What installs the project into .venv (the tests of this Makefile replace it with something quick).
INSTALL = $(BIN)/python -m pip install --quiet --upgrade pip && $(BIN)/python -m pip install --quiet -e '.[dev]'

.PHONY: run test test-pg lint typecheck bench migrate lock config-reference venv clean FORCE

# A .venv whose python is missing or too old (made by Python 3.10, or by an interpreter since removed) is rebuilt,
# whatever its stamp says.
ifneq ($(shell $(BIN)/python -c '$(NEW_ENOUGH)' >/dev/null 2>&1 && echo ok),ok)
$(STAMP): FORCE
endif

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	    echo "make: Python 3.11 or newer is needed and none of $(CANDIDATES) is: install one, or name it with make PYTHON=/path/to/python3.11" >&2; \
	    exit 1; \
	fi
	@$(PYTHON) -c '$(NEW_ENOUGH)' >/dev/null 2>&1 || { \
	    echo "make: Python 3.11 or newer is needed, and $(PYTHON) is $$($(PYTHON) --version 2>&1 | head -n 1): install 3.11+, or name it with make PYTHON=python3.11" >&2; \
	    exit 1; \
	}
	@if [ -e $(VENV) ] && ! $(BIN)/python -c '$(NEW_ENOUGH)' >/dev/null 2>&1; then \
	    echo "make: $(VENV) was made with $$($(BIN)/python --version 2>/dev/null || echo a Python that is gone); rebuilding it with $(PYTHON)"; \
	    rm -rf $(VENV); \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

FORCE:

venv: $(STAMP)

# `arxiv-bot run` applies the database migrations itself before it starts.
run: $(STAMP)
	$(BIN)/arxiv-bot run

# The architecture contracts ([tool.importlinter] in pyproject.toml), then every test.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest

# The same suite on PostgreSQL (a fresh schema per test in this database).
TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
test-pg: $(STAMP)
	ARXIVBOT_TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m pytest

# ruff, then mypy --strict on bot/, adapters/ and tests/ (the packages of [tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check bot adapters tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/score.py
	$(BIN)/python bench/cli_start.py

migrate: $(STAMP)
	$(BIN)/arxiv-bot migrate

# requirements.lock: the exact version and hashes of every package the Docker image installs (the dependencies of
# pyproject.toml, and what building its wheel needs), for Linux and the Python of .venv. Pins already in the lock are
# kept: `make lock LOCK_FLAGS=--upgrade` moves every one to the newest release pyproject.toml allows.
LOCK_FLAGS ?=
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --build-deps-for wheel \
	    --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS) --output-file requirements.lock pyproject.toml

# The README's configuration reference table, regenerated from the Settings dataclasses and config.toml.
config-reference: $(STAMP)
	$(BIN)/python scripts/config_reference.py --write

clean:
	rm -rf $(VENV) build *.egg-info
