# The two commands a newcomer types: `make run` and `make test`. Both build what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The suite runs on every core (pytest-xdist; tests/settings.py gives each worker its own Redis
# database, pytest-django its own test database). `make test PYTEST_ARGS=` runs it in one process.
PYTEST_ARGS ?= -n auto --dist worksteal
# Packages from Debian the tests need (browser tests, PDF rendering, catalogue extraction,
# reading the QR codes printed on letters as a phone camera would).
SYSTEM_TOOLS := chromium:chromium pdftoppm:poppler-utils xgettext:gettext zbarimg:zbar-tools

.PHONY: run test lint format system-deps messages clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: $(PY) requirements.txt
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

## make run: SQLite, in-process jobs, demo data, http://127.0.0.1:8000
run: $(VENV)/.runtime
	$(PY) manage.py compile_catalogues
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@# The periodic jobs (sweeper, verification, backup, purge…) run beside the web server.
	$(PY) manage.py scheduler & scheduler=$$!; trap 'kill $$scheduler' EXIT INT TERM; \
	  $(PY) manage.py runserver 127.0.0.1:8000

## make test: lint, type check, import layers, migrations check, the whole pytest suite
test: $(VENV)/.dev system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py compile_catalogues
	$(BIN)/pytest $(PYTEST_ARGS)

system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing (install them; browser tests will be skipped)"; \
	  fi; \
	fi

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make messages: refresh the catalogues from the sources (needs gettext), then translate
messages: $(VENV)/.dev
	$(PY) manage.py makemessages -l zh_Hans --no-obsolete --ignore=.venv --ignore=staticfiles --ignore=tests --ignore=benchmarks

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
