# One command to run the app, one to run the tests; each sets up .venv (Python ≥ 3.12) first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT   ?= 8501
PYTEST_ARGS ?=
UV_VERSION := 0.13.8
# Tests run in TEST_WORKERS processes (pytest-xdist), a file per worker at a time (module fixtures built once),
# in the order tests/conftest.py gives (longest first; xdist would otherwise sort files by their test count)
TEST_WORKERS ?= 2
# make ray-up: a single-node Ray head on 127.0.0.1 for BAYES_JOB_RUNNER=ray (see README, Scale-out)
RAY_CPUS  ?= 2
RAY_PORT  ?= 8265
RAY_HOURS ?= 12

.PHONY: run test test-fast bench bench-quick venv clean-venv ray-up ray-down

venv: $(STAMP)

$(STAMP): requirements.txt
	@if [ ! -x $(PY) ]; then \
	  PYBIN=$$(command -v python3.12 || command -v python3.13 || command -v python3); \
	  $$PYBIN -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "Python >= 3.12 is required (found $$($$PYBIN --version))"; exit 1; }; \
	  echo "Creating $(VENV) with $$($$PYBIN --version)"; \
	  $$PYBIN -m venv $(VENV); \
	fi
	@# uv installs the pinned requirements in 30 s where pip takes 76 s; pip stays the fallback. Bytecode is
	@# compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is set, every process would recompile it
	$(PY) -m pip install --quiet uv==$(UV_VERSION) \
	  && $(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt \
	  || { echo "uv could not install the requirements; installing them with pip"; \
	       $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -r requirements.txt; }
	@rm -f $(VENV)/.requirements-*
	@touch $@

run: venv
	$(PY) -m streamlit run streamlit_app.py --server.port $(PORT) --server.headless true

test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# The edit loop: everything but the tests that train or compile models (slow), drive a browser (e2e) or
# need a Ray cluster (ray); `make test` runs them all.
test-fast: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow and not e2e and not ray" $(PYTEST_ARGS)

bench: venv
	$(PY) -m bench

bench-quick: venv
	$(PY) -m bench --quick

# Starts the head (or shows the running one) and prints how to point the app at it; it stops by itself
# after RAY_HOURS. ray-down stops exactly what ray-up started, by the pids recorded in .ray/head.json.
ray-up: venv
	$(PY) -m bayes_core.jobs.ray_local up --cpus $(RAY_CPUS) --port $(RAY_PORT) --hours $(RAY_HOURS)

ray-down:
	$(PY) -m bayes_core.jobs.ray_local down

clean-venv:
	rm -rf $(VENV)
