# The two commands of the README. Each sets itself up: a virtual environment in .venv,
# the hub installed into it (re-installed when pyproject.toml changes), then the work.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench openapi mutation clean

$(STAMP): pyproject.toml examples/hotline_hub_example_adapter/pyproject.toml examples/hotline_hub_example_soap_adapter/pyproject.toml \
		examples/hotline_hub_example_feature/pyproject.toml
	@echo "[1/6] creating the virtual environment in $(VENV) (a few minutes in all, once)"
	$(PYTHON) -m venv $(VENV)
	@echo "[2/6] upgrading pip"
	$(BIN)/pip install --quiet --upgrade pip
	@echo "[3/6] installing the hub and its test tools (the long step: one line per package)"
	bash -o pipefail -c "$(BIN)/pip install --progress-bar off -e '.[test]' 2>&1 | grep --line-buffered -vE '^ |already satisfied'"
	@echo "[4/6] installing the example adapter"
	$(BIN)/pip install --quiet -e examples/hotline_hub_example_adapter
	@echo "[5/6] installing the example SOAP adapter"
	$(BIN)/pip install --quiet -e examples/hotline_hub_example_soap_adapter
	@echo "[6/6] installing the example feature"
	$(BIN)/pip install --quiet -e examples/hotline_hub_example_feature
	touch $(STAMP)

# The hub on its embedded default (a SQLite file under var/) with the sandbox peers.
run: $(STAMP)
	$(BIN)/hotline-hub sandbox

# Every test: unit, contract, integration (SQLite file + PostgreSQL), end-to-end, on one
# pytest-xdist worker per core; PYTEST_WORKERS=0 runs them in this one process. Each worker has
# its own databases (tests/support/databases.py), temporary files and ports.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The developer's loop: the same without the end-to-end tier (schemathesis is part of it).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not e2e" $(PYTEST_ARGS)

# Mutation testing of the domain rules (tools/mutate.py, unit tests only; not part of `test`).
# Score and the survivors judged equivalent: tests/MUTATION.md. MUTATION_ARGS narrows it,
# e.g. MUTATION_ARGS="hub/domain/access.py" or "--only hub/domain/engine.py:120".
mutation: $(STAMP)
	$(BIN)/python tools/mutate.py $(MUTATION_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

openapi: $(STAMP)
	$(BIN)/hotline-hub openapi export

clean:
	rm -rf $(VENV) var
