# Softmaxと情報幾何学 — the two commands a reader needs: `make book` and `make test`.
# Every target creates the virtual environment first if it is missing or out of date.

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
BUILD      := _build
HTML       := $(BUILD)/html
PORT       ?= 8000
# -W: any Sphinx warning fails the build; -n: nitpicky references; --keep-going: report them all.
JB_FLAGS   := -W -n --keep-going

.PHONY: help venv book test format test-checks test-book test-lab unit notebooks figures figures-check build-book browser chromium lab serve bench clean

help:
	@echo "make book     build the HTML book into $(HTML) (executes every notebook, cached)"
	@echo "make test     unit tests, nbval over every notebook, figure check, book build, browser tests (book and JupyterLab)"
	@echo "make lab      open JupyterLab on notebooks/ (lab/: no news prompt, nothing leaves 127.0.0.1)"
	@echo "make figures  regenerate every SVG in figures/"
	@echo "make serve    serve $(HTML) on http://127.0.0.1:$(PORT)"
	@echo "make format   format and lint-fix the code with ruff (what make test checks)"
	@echo "make bench    run the benchmarks (speed ratios, slider latency in JupyterLab)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	@touch $(STAMP)

book: $(STAMP) build-book
	@echo "The book is at $(abspath $(HTML))/index.html"

build-book: $(STAMP)
	$(PY) tools/cache_guard.py
	$(VENV)/bin/jupyter-book build . $(JB_FLAGS)

figures: $(STAMP)
	$(PY) -m lecture_code.figures

format: $(STAMP)
	$(VENV)/bin/ruff format lecture_code tests tools notebooks
	$(VENV)/bin/ruff check --fix lecture_code tests tools notebooks

figures-check: $(STAMP)
	$(PY) -m lecture_code.figures --check

unit: $(STAMP)
	$(PY) -m pytest -q --doctest-modules lecture_code tests --ignore=tests/browser

notebooks: $(STAMP)
	$(PY) -m pytest -q --nbval-lax notebooks/

chromium:
	@$(PY) tools/find_chromium.py --install

browser: $(STAMP) chromium
	$(PY) -m pytest -q tests/browser

# The one test command (README, .ci/run). Three independent chains run side by side on the two
# cores: unit tests (with the docstring examples) -> nbval; book build -> browser tests of the
# built book; JupyterLab itself running every chapter (tests/browser/test_jupyterlab.py). The book
# chain is the longest, so the other two run niced (nothing in them is timed). Output is grouped
# per chain, with its start and end time; any failure fails `make test`.
test: $(STAMP) chromium
	@$(MAKE) --no-print-directory -j3 --output-sync=target test-checks test-book test-lab

# ruff checks the formatting (79 columns: what fits the book's code column) and lints the library,
# tests, tools and notebooks (rules in pyproject.toml). The figure check
# runs once, inside the unit tests: tests/test_figures.py regenerates every figure in a fresh
# interpreter and compares it byte for byte with figures/.
test-checks: $(STAMP)
	@echo "== $@ start $$(date +%T)"
	$(VENV)/bin/ruff format --check lecture_code tests tools notebooks
	$(VENV)/bin/ruff check lecture_code tests tools notebooks
	nice -n 10 $(PY) -m pytest -q --doctest-modules lecture_code tests --ignore=tests/browser
	nice -n 10 $(PY) -m pytest -q --nbval-lax notebooks/
	@echo "== $@ end $$(date +%T)"

test-book: $(STAMP)
	@echo "== $@ start $$(date +%T)"
	$(MAKE) --no-print-directory build-book
	$(PY) -m pytest -q tests/browser --ignore=tests/browser/test_jupyterlab.py
	@echo "== $@ end $$(date +%T)"

test-lab: $(STAMP)
	@echo "== $@ start $$(date +%T)"
	nice -n 5 $(PY) -m pytest -q tests/browser/test_jupyterlab.py
	@echo "== $@ end $$(date +%T)"

# JupyterLab refuses to start as root unless told; containers often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

# lab/jupyter_lab_config.py: server root = the repository (chapters show ../figures), opens on
# notebooks/, no news feed or update check (lab/settings/overrides.json), read-only extension manager.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) --config=lab/jupyter_lab_config.py

serve:
	@test -f $(HTML)/index.html || (echo "no book yet: run 'make book' first" && exit 1)
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

# Every benchmark runs; `make bench` fails if any of them misses its gate (non-zero exit).
bench: $(STAMP)
	@status=0; for f in tests/bench_*.py; do $(PY) "$$f" || status=1; done; exit $$status

clean:
	rm -rf $(BUILD)
