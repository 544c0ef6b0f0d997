# The two commands of the README. Each sets itself up on first use: it makes
# .venv and installs troth with its dev extras from pyproject.toml.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: test demo lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

demo: $(STAMP)
	$(VENV)/bin/troth demo

lint: $(STAMP)
	$(VENV)/bin/ruff check wire trust node sim tests bench
	$(VENV)/bin/mypy wire trust node sim

bench: $(STAMP)
	for b in bench/[a-z]*.py; do $(VENV)/bin/python -m bench.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .hypothesis
