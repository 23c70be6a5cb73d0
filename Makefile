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

.PHONY: book test notebooks clean chromium help

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make test   run the whole suite: package, book build, nbval, browser, Colab"
	@echo "make notebooks  re-execute every notebook in book/ in place, print a timing table"
	@echo "make clean  remove _build (keeps the virtual environment)"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
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

# Where this Makefile can install Chromium (as root with apt-get: the project's
# machines and CI), the browser test must run: VAECOURSE_REQUIRE_BROWSER=1 turns
# its skip on a missing Chromium into a failure (see tests/test_browser.py).
REQUIRE_BROWSER := $(shell if [ -x $(CHROMIUM) ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; }; then echo 1; else echo 0; fi)

test: $(STAMP) chromium
	VAECOURSE_REQUIRE_BROWSER=$(REQUIRE_BROWSER) $(BIN)/python -m pytest

notebooks: $(STAMP)
	IPYTHONDIR=$(CURDIR)/.ipython $(BIN)/python scripts/execute_notebooks.py

clean:
	rm -rf _build
