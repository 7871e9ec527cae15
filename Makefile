# Two commands for a new user: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# `make test-min` installs with this constraints file (the lowest versions allowed).
CONSTRAINTS ?=

.PHONY: demo test test-min lint docs notebooks chromium bench clean

$(VENV)/.installed-demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[test,engines,notify,dask]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(PY) -m ipyjobs.demo

# The browser test drives Debian's chromium; install it (as root) when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: sudo apt-get install chromium"; exit 1; fi; }

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check ipyjobs tests benchmarks
	$(VENV)/bin/ruff format --check ipyjobs tests benchmarks
	$(VENV)/bin/mypy

docs: $(VENV)/.installed-test
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

notebooks: $(VENV)/.installed-test
	$(PY) -m pytest -q --nbval --nbval-sanitize-with notebooks/nbval-sanitize.cfg notebooks/

test: $(VENV)/.installed-test chromium lint docs
	$(PY) -m pytest -s -q
	$(PY) -m pytest -q --nbval --nbval-sanitize-with notebooks/nbval-sanitize.cfg notebooks/

# Every test again, against the lowest versions pyproject.toml allows, in .venv-min.
test-min:
	$(MAKE) --no-print-directory test VENV=.venv-min CONSTRAINTS=constraints-min.txt

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run.py
	$(PY) benchmarks/processes.py
	$(PY) benchmarks/widgets.py
	$(PY) benchmarks/controls.py
	$(PY) benchmarks/engines.py
	$(PY) benchmarks/imports.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/big_output.py
	$(PY) benchmarks/fanout.py
	$(PY) benchmarks/sleep.py
	$(PY) benchmarks/notify.py

clean:
	rm -rf .venv .venv-min docs/_build test-artifacts
