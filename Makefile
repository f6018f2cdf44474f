# port-server: `make run` starts the server, `make test` runs the whole suite.
# Both live in .venv: `make run` installs the runtime set (the package and its runtime
# dependencies, plus RUN_EXTRAS), `make test` the dev set (test and lint tools, every extra).
PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
RUN_STAMP  := $(VENV)/.installed-run
EXTRAS     ?= dev,all
RUN_EXTRAS ?=

.PHONY: run test build lint bench install-skill clean venv

venv: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The dev set: what `make test`, `make lint` and `make bench` need.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	$(PY) -m compileall -q src >/dev/null  # byte-compile even under PYTHONDONTWRITEBYTECODE
	touch $(STAMP)

# The runtime set: what `pipx install .` gives (RUN_EXTRAS=all adds PostgreSQL, MCP, metrics).
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.$(if $(RUN_EXTRAS),[$(RUN_EXTRAS)],)'
	$(PY) -m compileall -q src >/dev/null
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/port-server

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

build: $(STAMP)
	$(PY) -m compileall -q src >/dev/null
	mkdir -p bin
	for cmd in port-server portctl portman; do \
	  printf '#!/bin/sh\nexec "%s" "$$@"\n' "$(abspath $(VENV))/bin/$$cmd" > bin/$$cmd; \
	  chmod +x bin/$$cmd; \
	done
	@echo "bin/port-server, bin/portctl and bin/portman are ready; add $(CURDIR)/bin to PATH"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache  # the layers in docs/architecture.md (pyproject.toml)

bench: $(STAMP)
	$(PY) -m compileall -q src >/dev/null
	$(PY) bench/run_all.py $(if $(PEERS),--peers,)

install-skill: $(STAMP)
	$(VENV)/bin/portctl skill install --global

clean:
	rm -rf $(VENV) bin build dist .pytest_cache .mypy_cache .ruff_cache
