# Every target builds its own .venv on a fresh machine: only Python 3.11 and pip are assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast test-long lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint,load,scale]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ubc-cert demo

# The suite starts well over a hundred Python processes (each `ubc-cert run` it makes, the
# reference participants, the xdist workers): they load the project and its libraries from
# bytecode compiled once, kept under .venv so that the source tree stays clean even where
# PYTHONDONTWRITEBYTECODE is set (set empty, it lets Python write).
test test-fast test-long: export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache
test test-fast test-long: export PYTHONDONTWRITEBYTECODE :=

# Three workers on two cores, a test file each at a time: most of the suite waits on sockets
# and processes. The longest files go first (tests/conftest.py), in our order, not xdist's.
test: $(STAMP)
	$(BIN)/pytest -q -n 3 --dist loadfile --no-loadscope-reorder

# Unit tests only: nothing that starts a server or a process (marker `network`).
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not network"

# The long fuzz (marker `long`, left out of the two above): schemathesis against every mock, the
# Beckn inboxes signed with keys of the network's registry; at least 10,000 requests or it fails.
test-long: $(STAMP)
	$(BIN)/pytest -q -n 3 -m long

lint: $(STAMP)
	$(BIN)/ruff check harness mocks tests bench
	$(BIN)/mypy

# Every bench, one after another, and one table of each measure against its goal (a few
# minutes; `$(BIN)/python bench/all.py --quick` to try it in one).
bench: $(STAMP)
	$(BIN)/python bench/all.py

clean:
	rm -rf $(VENV) reports/*/ .mypy_cache .ruff_cache
