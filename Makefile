# holdfast: two commands. `make demo` rehearses the playbook on the sandbox org; `make test` is what CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install test lint demo bench lock clean

# No telemetry from Prefect servers started by the tests, the demo or `holdfast serve`: loopback only.
export PREFECT_SERVER_ANALYTICS_ENABLED := false

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

demo: install
	$(BIN)/holdfast demo

bench: install
	$(BIN)/python -m bench

# Refresh the pinned versions after changing pyproject.toml's ranges.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
