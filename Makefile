# The commands of the README. Each sets itself up on first use: it makes
# .venv and installs troth with its dev extras from pyproject.toml (`fuzz`
# also tries the optional `fuzz` extra, atheris; without it the campaign runs
# its plain mutator).
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
FUZZ_STAMP := $(VENV)/.fuzz-installed

.PHONY: test demo lint bench fuzz clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

$(FUZZ_STAMP): $(STAMP)
	$(VENV)/bin/pip install --quiet -e '.[dev,fuzz]' \
		|| echo "atheris did not install: make fuzz runs the plain mutator"
	touch $(FUZZ_STAMP)

# A million inputs through the decoders and a live core (tests/fuzz/campaign.py);
# e.g. make fuzz FUZZ_ARGS="--inputs 100000".
fuzz: $(FUZZ_STAMP)
	$(VENV)/bin/python -m tests.fuzz.campaign $(FUZZ_ARGS)

demo: $(STAMP)
	$(VENV)/bin/troth demo

lint: $(STAMP)
	$(VENV)/bin/ruff check wire trust node sim tests bench
	$(VENV)/bin/mypy wire trust node sim

bench: $(STAMP)
	for b in bench/[a-z]*.py; do $(VENV)/bin/python -m bench.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .hypothesis
