# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast install install-st ingest serve bot eval eval-unseen eval-squad train-selector bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The optional sentence-transformers extra (torch 2.13.0 CPU) in a venv of its own, so that the default install
# stays without torch; `make test` runs the extra's tests there.
ST_VENV := .venv-st
ST_STAMP := $(ST_VENV)/.installed
$(ST_STAMP): pyproject.toml
	$(PYTHON) -m venv $(ST_VENV)
	$(ST_VENV)/bin/pip install --quiet --upgrade pip
	$(ST_VENV)/bin/pip install --quiet -e ".[test,st]"
	touch $(ST_STAMP)

install-st: $(ST_STAMP)

ingest: install
	$(BIN)/assistant ingest corpus --sync

serve: install
	$(BIN)/assistant serve

# Installs, ingests corpus/ into data/, serves the API on 127.0.0.1:$${ASSISTANT_PORT:-8000};
# also starts the Telegram bot when TELEGRAM_BOT_TOKEN is set.
run: ingest
	@if [ -n "$$TELEGRAM_BOT_TOKEN" ]; then \
		echo "starting the Telegram bot"; \
		$(BIN)/assistant serve & api=$$!; \
		trap 'kill $$api 2>/dev/null' EXIT INT TERM; \
		$(BIN)/assistant bot; \
	else \
		$(BIN)/assistant serve; \
	fi

# The whole suite on the embedded engine (Qdrant Edge), then the store-backed tests again on the server engine
# (qdrant-client's local mode stands in for a server: same client API).
SERVER_TESTS := tests/test_ingest.py tests/test_search.py tests/test_answers.py tests/test_answerability.py \
	tests/test_api.py tests/test_hardening.py
# First the import layers (pyproject.toml's [tool.importlinter]), then the package as others run it: the wheel tools/build_wheel.sh builds (as the Dockerfile does), installed
# into a fresh venv, ingesting corpus/ from an empty folder and answering over HTTP (tools/check_wheel.py).
test: install install-st
	$(BIN)/lint-imports
	$(PYTHON) tools/check_wheel.py
	$(BIN)/python -m pytest -q -rs
	COOP_TEST_ENGINE=server $(BIN)/python -m pytest -q $(SERVER_TESTS)
	$(ST_VENV)/bin/python -m pytest -q tests/test_st_backend.py

# For development: the unit tests only (seconds); `make test` runs everything.
test-fast: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m unit

eval: install
	$(BIN)/assistant eval --corpus corpus --questions eval/questions.jsonl

eval-unseen: install
	$(BIN)/assistant eval --unseen

eval-squad: install
	$(BIN)/assistant eval --dataset ../shared/datasets/squad-it-dev

# Refits src/assistant/data/selector.json (squad-it-dev train half + our dev questions).
train-selector: install
	$(BIN)/assistant train-selector --dataset ../shared/datasets/squad-it-dev

bench: install
	$(BIN)/python bench/latency.py

clean:
	rm -rf data .pytest_cache
