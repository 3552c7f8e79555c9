# Two entry points (see README): `make demo` and `make test`.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test codegen check lint native

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	$(VENV)/bin/python -m tools.native build
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(VENV)/bin/nd2kit demo --out out

test: $(STAMP)
	$(VENV)/bin/python -m pytest

codegen: $(STAMP)
	$(VENV)/bin/python -m tools.codegen
	$(VENV)/bin/python -m tools.native build

native: $(STAMP)
	$(VENV)/bin/python -m tools.native build

check: $(STAMP)
	$(VENV)/bin/python -m tools.codegen --check

LINT_STAMP := $(VENV)/.lint-installed

$(LINT_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install -q 'ruff>=0.6' 'mypy>=1.10'
	touch $@

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check src tools tests
	$(VENV)/bin/mypy
