# dp: the two commands of the README (`make demo`, `make test`) and the maintainers' extras.
# Every target installs what it needs into a local virtual environment first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --quiet --disable-pip-version-check

.PHONY: demo test bench notebooks course docs clean

# The marker files record which extras are installed; they are redone when pyproject.toml changes.
$(VENV)/.demo: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[demo]'
	touch $@

$(VENV)/.dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	$(PY) -m dp.demo

# One BLAS thread a worker: two pytest workers on two cores, each with its own BLAS threads, would thrash.
test: $(VENV)/.dev
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q

# Your numbers go to benchmarks/results/latest.md (git ignores it); `benchmarks/run.py --update-docs`
# is how a maintainer republishes docs/benchmarks.md.
bench: $(VENV)/.dev
	$(PY) benchmarks/run.py

# A notebook is made from its .py only when the .py is newer: a student's work is never overwritten.
NOTEBOOKS := $(patsubst %.py,%.ipynb,$(wildcard notebooks/*.py))
notebooks: $(NOTEBOOKS)

notebooks/%.ipynb: notebooks/%.py | $(VENV)/.dev
	$(PY) -m jupytext --to ipynb $<

$(VENV)/.course: pyproject.toml | $(VENV)/.dev
	$(PIP) install -e '.[dev,jupyter]'
	touch $@

# The course in a browser: Jupyter on the notebooks folder.
course: $(VENV)/.course notebooks
	$(VENV)/bin/jupyter notebook notebooks/

# The documentation site in site/ (mkdocs.yml), offline and --strict; the course's chapters are
# executed in full with the reference solutions (a few minutes), so their pages show the outputs and
# figures the text discusses. `make docs DP_COURSE_FAST=1` shortens the trainings as the tests do.
docs: $(VENV)/.dev
	DP_DOCS_EXECUTE=1 DP_COURSE_FAST=$(DP_COURSE_FAST) OPENBLAS_NUM_THREADS=1 NO_MKDOCS_2_WARNING=1 \
		$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build src/*.egg-info site
