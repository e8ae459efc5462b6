# The two commands of this book: `make test` and `make book`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LINTED := src tests benchmarks scripts notebooks/*.py
export PYTHONHASHSEED := 0

.PHONY: test test-kernels book check-html env lint sync baselines bench clean

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[book,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(VENV)/bin/actionlint .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline --quiet .github/workflows

test: lint
	$(PY) -m pytest -q

# The baseline comparison again on PyTorch's portable CPU kernels instead of the machine's own
# (AVX2/AVX-512): a number that holds on one kernel path only fails where it is introduced.
test-kernels: $(STAMP)
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -q tests/book/test_baselines.py -k match_baseline

# A chapter is executed when what it depends on changed since its last run (its source, src/,
# the pins and installed versions, device, trained model) and otherwise taken from
# _build/cache; RERUN=1 executes every chapter anyway (`make book RERUN=1`).
book: $(STAMP)
	$(PY) scripts/build_book.py $(if $(filter-out 0,$(RERUN)),--rerun)

# Open every built page in headless Chromium (offline) at 1280 and 390 px: errors, images, math,
# links, content cut at the page edge, hidden scrollbars, figure text too small to read,
# screenshots at both widths.
check-html: $(STAMP)
	$(PY) scripts/check_html.py

# Regenerate the paired .ipynb files from the reviewed .py sources (outputs stay stripped).
sync: $(STAMP)
	$(PY) -m jupytext --to ipynb --update notebooks/*.py  # writes the .ipynb only

# Rewrite tests/book/baselines/*.json from the chapters' smoke runs (after an intended change).
baselines: $(STAMP)
	$(PY) -m pytest -q tests/book/test_baselines.py --update-baselines

bench: $(STAMP)
	for f in benchmarks/*.py; do $(PY) $$f || exit 1; done

# Everything make book and make check-html write, the chapter cache (_build/cache) included.
clean:
	rm -rf _build
