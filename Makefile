# Two commands do all the set-up: `make book` and `make test`.
# The virtual environment is made once and reinstalled only when
# pyproject.toml or the constraints file changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONSTRAINTS := requirements/constraints.txt
# Debian's Chromium, for the browser test (tests/test_browser.py).
CHROMIUM ?= /usr/bin/chromium

.PHONY: book pdf test notebooks diagrams clean chromium help

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make pdf    the book as one PDF, _build/pdf/book.pdf (Chromium prints it)"
	@echo "make test   run the whole suite: package, book build, nbval, browser, Colab"
	@echo "make notebooks  re-execute every notebook in book/ in place, print a timing table"
	@echo "                (NOTEBOOKS=book/06_elbo.ipynb: only that one)"
	@echo "make diagrams  redraw the diagrams in book/images (scripts/draw_diagrams.py)"
	@echo "make clean  remove _build (keeps the virtual environment)"

# Asked of $(PYTHON) only when .venv is made.
PYTHON_VERSION = $(shell $(PYTHON) -c \
	'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHON_PREFIX = $(shell $(PYTHON) -c \
	'import sys; print(sys.base_prefix)' 2>/dev/null)
# Debian and Ubuntu ship ensurepip, which `python3 -m venv` needs, apart
# from Python: in python3.X-venv, X the minor version of $(PYTHON).
VENV_PACKAGE = python$(PYTHON_VERSION)-venv
HAS_VENV = $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null

# The virtual environment. Where $(PYTHON) is Debian's or Ubuntu's own
# (under /usr) and lacks ensurepip, installs $(VENV_PACKAGE) with apt-get
# when we may (as root, as for Chromium); otherwise stops and names it.
$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { \
	  echo "error: $(PYTHON) not found: install Python 3.10 or later" \
	    "(README.md, Prerequisites) or run make PYTHON=/path/to/python3"; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
	  echo "error: $(PYTHON) is Python $(PYTHON_VERSION); the course" \
	    "needs 3.10 or later: run make PYTHON=/path/to/a/newer/python3"; \
	  exit 1; }
	@if ! $(HAS_VENV); then \
	  if [ "$(PYTHON_PREFIX)" = /usr ] && [ "$$(id -u)" = 0 ] \
	      && command -v apt-get >/dev/null; then \
	    echo "Installing $(VENV_PACKAGE): $(PYTHON) has no ensurepip," \
	      "which python -m venv needs"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq $(VENV_PACKAGE) >/dev/null; \
	  fi; \
	  $(HAS_VENV) && exit 0; \
	  echo "error: $(PYTHON) has no ensurepip module, so" \
	    "'$(PYTHON) -m venv' cannot make $(VENV)."; \
	  if [ "$(PYTHON_PREFIX)" = /usr ]; then \
	    echo "On Debian and Ubuntu it is in the package $(VENV_PACKAGE):" \
	      "sudo apt-get install $(VENV_PACKAGE)"; \
	  else \
	    echo "$(PYTHON) is the Python in $(PYTHON_PREFIX): reinstall it" \
	      "complete, or run make PYTHON=/path/to/another/python3"; \
	  fi; \
	  exit 1; \
	fi
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c $(CONSTRAINTS) -e ".[book,test]"
	touch $(STAMP)

# Installs Chromium with apt-get when it is missing and we are allowed to;
# the browser test skips with a message where it cannot be had.
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "warning: could not install chromium; the browser test will skip"; \
	else echo "warning: chromium not found and not root; the browser test will skip"; fi

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going
	@echo "Book: $(CURDIR)/_build/html/index.html"

# The whole book as one PDF, printed by the local Chromium from the HTML.
pdf: book chromium
	$(BIN)/python scripts/make_pdf.py --html _build/html --out _build/pdf/book.pdf

# Where this Makefile can install Chromium (as root with apt-get: the project's
# machines and CI), the browser test must run: VAECOURSE_REQUIRE_BROWSER=1 turns
# its skip on a missing Chromium into a failure (see tests/test_browser.py).
REQUIRE_BROWSER := $(shell if [ -x $(CHROMIUM) ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; }; then echo 1; else echo 0; fi)

test: $(STAMP) chromium
	VAECOURSE_REQUIRE_BROWSER=$(REQUIRE_BROWSER) $(BIN)/python -m pytest

# NOTEBOOKS="book/06_elbo.ipynb ..." re-executes only those. The script runs
# the kernels in the portable numerical mode, with the project's IPython
# profile, as the test suite does (scripts/portable_numerics.py).
NOTEBOOKS ?=
notebooks: $(STAMP)
	$(BIN)/python scripts/execute_notebooks.py $(NOTEBOOKS)

diagrams: $(STAMP)
	$(BIN)/python scripts/draw_diagrams.py

clean:
	rm -rf _build
