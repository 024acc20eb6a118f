# The commands a new user needs; each sets up what it needs on a fresh machine.
#   make demo   installs deeptag and tracks the example sequence shipped with the package
#   make test   installs deeptag with its test tools and runs the test suite
#   make docs   installs the documentation tools and builds the site into site/ (warnings are errors)
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install install-test install-docs test test-all demo docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

install-docs: $(BIN)/python
	$(BIN)/pip install -q -e '.[docs]'

# pytest exits 5 when it collects no test: that is not a failure of the suite.
test: install-test
	$(BIN)/python -m pytest -q -rs; status=$$?; if [ $$status -eq 5 ]; then exit 0; else exit $$status; fi

test-all: install-test
	$(BIN)/python -m pytest -q -rs -m ''

demo: install
	$(BIN)/deeptag track --example --adapt --out deeptag-demo --force --report

docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
