# One command to run the app, one to run the tests; each sets up .venv (Python ≥ 3.12) first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT   ?= 8501
PYTEST_ARGS ?=

.PHONY: run test bench bench-quick venv clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt
	@if [ ! -x $(PY) ]; then \
	  PYBIN=$$(command -v python3.12 || command -v python3.13 || command -v python3); \
	  $$PYBIN -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "Python >= 3.12 is required (found $$($$PYBIN --version))"; exit 1; }; \
	  echo "Creating $(VENV) with $$($$PYBIN --version)"; \
	  $$PYBIN -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.requirements-*
	@touch $@

run: venv
	$(PY) -m streamlit run streamlit_app.py --server.port $(PORT) --server.headless true

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) -m bench

bench-quick: venv
	$(PY) -m bench --quick

clean-venv:
	rm -rf $(VENV)
