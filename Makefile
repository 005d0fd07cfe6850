# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates the virtualenv in .venv if needed and (re)installs what it needs whenever
# pyproject.toml changed: the demo only the package, the tests every optional extra
# (plots, Sigma parsing, notebooks, Spark) so that all of it is tested.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test check lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.core: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,plot,detect,notebooks,spark]'
	touch $@ $(VENV)/.check

# The fast loop needs no Spark and no Jupyter: the test tools, matplotlib and pySigma.
$(VENV)/.check: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,plot,detect]'
	touch $@

demo: $(VENV)/.core
	$(PY) tools/demo.py

# pytest's exit status 5 means "no tests collected": treat it as a failure, not a pass.
# Two workers, each test file on one of them (module fixtures such as Spark's datasets
# are built once): about half the time on two cores. PYTEST_WORKERS=0 runs in-process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

test: $(VENV)/.test
	$(PY) -m pytest -q $(PYTEST_PARALLEL); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

# The fast loop while editing: everything but Spark, the notebooks and the slow tests.
check: $(VENV)/.check
	$(PY) -m pytest -q -x $(PYTEST_PARALLEL) -m 'not spark and not notebooks and not slow'; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(VENV)/.check
	$(VENV)/bin/ruff check .

bench: $(VENV)/.test
	$(PY) benchmarks/convert.py

clean:
	rm -rf $(VENV) demo-output
