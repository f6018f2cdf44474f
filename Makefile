# port-server: `make run` starts the server, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= dev,all

.PHONY: run test build lint bench install-skill clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	$(PY) -m compileall -q src >/dev/null  # byte-compile even under PYTHONDONTWRITEBYTECODE
	touch $(STAMP)

run: $(STAMP)
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
