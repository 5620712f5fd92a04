# StudyPortal: `make demo` runs the app with demo data, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test lint migrations-check backup restore clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "StudyPortal needs Python 3.11 or newer"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create $(VENV): on Debian/Ubuntu run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

demo: export DEBUG ?= 1
demo: $(INSTALLED)
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "StudyPortal is starting on http://$(HOST):$(PORT)/ (web, Celery worker and beat)."
	@echo "Log in with one of the users above. Press Ctrl-C to stop all three."
	@echo
	$(BIN)/python manage.py rundemo $(HOST):$(PORT)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Compares models with migration files; no database is needed for that.
migrations-check: $(INSTALLED)
	DATABASE_URL= DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py makemigrations --check --dry-run

# Over every core: the tests keep their own databases, queues and ports.
PYTEST_ARGS ?= -n auto

test: lint migrations-check
	$(BIN)/pytest $(PYTEST_ARGS)

# Backups of DATABASE_URL (PostgreSQL): `make backup` writes backups/<time>.dump,
# `make backup FILE=x.dump` writes x.dump; `make restore FILE=x.dump` replaces the
# database's contents with x.dump after asking. The files hold personal data.
backup: $(INSTALLED)
	$(BIN)/python manage.py backup $(if $(FILE),--output "$(FILE)")

restore: $(INSTALLED)
	@test -n "$(FILE)" || { echo "Say which backup: make restore FILE=backups/....dump"; exit 1; }
	$(BIN)/python manage.py restore "$(FILE)"

clean:
	rm -rf $(VENV) var
