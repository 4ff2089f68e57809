# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-pg lint typecheck bench migrate config-reference clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/arxiv-bot migrate
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

migrate: $(STAMP)
	$(BIN)/arxiv-bot migrate

# The README's configuration reference table, regenerated from the Settings dataclasses and config.toml.
config-reference: $(STAMP)
	$(BIN)/python scripts/config_reference.py --write

clean:
	rm -rf $(VENV) build *.egg-info
