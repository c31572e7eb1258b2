# contacts-io: `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PORT ?= 5000
export PORT

.PHONY: run test check install install-dev lint format browser-deps clean security lock

# Installs take the versions pinned in requirements.lock (`make lock` writes it from
# pyproject.toml) and are skipped when neither file changed since the last one (hash stamp).
STAMP = cat pyproject.toml requirements.lock | sha256sum | cut -c1-16
install:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@h=$$($(STAMP)); \
	if [ "$$(cat $(VENV)/.stamp-run 2>/dev/null)" != "$$h" ]; then \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -e . -c requirements.lock --config-settings editable_mode=compat && echo $$h > $(VENV)/.stamp-run; \
	fi

install-dev: install
	@h=$$($(STAMP)); \
	if [ "$$(cat $(VENV)/.stamp-dev 2>/dev/null)" != "$$h" ]; then \
	  $(BIN)/python -m pip install --quiet -e ".[dev]" -c requirements.lock --config-settings editable_mode=compat && echo $$h > $(VENV)/.stamp-dev; \
	fi

# Pin every runtime and dev dependency (and theirs) after a change to pyproject.toml.
lock: install-dev
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --extra dev --strip-extras \
	  --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# bandit on the code (clean, or each finding explained by a `# nosec Bxxx # why` comment) and
# pip-audit on requirements.lock (see .ci/audit_dependencies.py and docs/reliability.md).
security: install-dev
	$(BIN)/bandit --quiet --recursive app scripts
	$(BIN)/python .ci/audit_dependencies.py

browser-deps:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -q && apt-get install -y -q chromium) >/dev/null; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install -y chromium"; fi; }

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	$(BIN)/python -m scripts.launcher

test: install-dev browser-deps security lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# The everyday loop: lint and every test but the slow ones (browser, faults, `make run`).
check: install-dev lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow and not browser" $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check app scripts tests
	$(BIN)/ruff format --check app scripts tests
	$(BIN)/mypy

format:
	$(BIN)/ruff format app scripts tests
	$(BIN)/ruff check --fix app scripts tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
