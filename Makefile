# Entry points for humans and CI: `make demo`, `make test` (everything; CI runs it) and `make test-fast` (lint and
# the unit tier, for while you work). All build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
# pytest-xdist workers; the suite is safe in parallel (tmp_path files, a PostgreSQL schema or database per test,
# port 0 everywhere); an idle worker steals queued tests from a busy one. WORKERS=0 runs in one process.
WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist worksteal

.PHONY: demo test test-fast test-thorough lint typecheck unit suite bench clean chromium screenshots

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# matplotlib builds its font cache on first import by running fc-list; the unit tier refuses subprocesses.
	$(BIN)/python -c "import matplotlib.font_manager"
	@$(MAKE) --no-print-directory chromium
	@touch $(STAMP)

# The dashboard's browser tests drive Debian's chromium through Playwright (no browser download); as root on a
# Debian machine it is installed when missing, otherwise the command to run is printed.
chromium:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "the dashboard's browser tests need $(CHROMIUM): sudo apt-get install -y chromium"

demo: $(STAMP)
	$(BIN)/checkin demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# The tiers (tests/conftest.py): unit, integration, process. PostgreSQL cases run when the server answers.
unit: $(STAMP)
	$(PYTEST) -m unit

suite: $(STAMP)
	$(PYTEST)

test-fast: lint unit

test: lint typecheck suite

# More examples for every property test: worth it after changing what they cover.
test-thorough: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(PYTEST)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The dashboard's screenshots in docs/images/, from a made-up practice, in headless Chromium.
screenshots: $(STAMP)
	$(BIN)/python -m tools.dashboard_screenshots --out docs/images

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
