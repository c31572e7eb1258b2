# contacts-io: `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PORT ?= 5000
export PORT

.PHONY: run test install install-dev lint format browser-deps clean

# Installs are skipped when pyproject.toml has not changed since the last one (hash stamp).
install:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@h=$$(sha256sum pyproject.toml | cut -c1-16); \
	if [ "$$(cat $(VENV)/.stamp-run 2>/dev/null)" != "$$h" ]; then \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -e . --config-settings editable_mode=compat && echo $$h > $(VENV)/.stamp-run; \
	fi

install-dev: install
	@h=$$(sha256sum pyproject.toml | cut -c1-16); \
	if [ "$$(cat $(VENV)/.stamp-dev 2>/dev/null)" != "$$h" ]; then \
	  $(BIN)/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=compat && echo $$h > $(VENV)/.stamp-dev; \
	fi

browser-deps:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -q && apt-get install -y -q chromium) >/dev/null; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install -y chromium"; fi; }

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	$(BIN)/python -m app.launcher

test: install-dev browser-deps
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

format:
	$(BIN)/ruff format app tests
	$(BIN)/ruff check --fix app tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
