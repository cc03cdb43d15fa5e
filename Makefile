# The two commands the README names:
#   make run    set everything up, then run the main job (the full MLP lesson on Fashion-MNIST)
#   make test   set everything up, then run the test suite
# Both are idempotent: a second call only re-installs what changed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
LESSON ?= mlp
OUT    ?= runs/$(LESSON)
STAMP  := $(VENV)/.deepnotes-installed
DATA_STAMP := $(VENV)/.deepnotes-data

.PHONY: setup run test bench data concepts notebooks clean-venv

setup: $(STAMP) $(DATA_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned to the CPU wheel: a bare "torch" requirement would pull a CUDA build.
$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test,bench]'
	touch $(STAMP)

# Debian data packages (Fashion-MNIST) when we are root and apt exists; otherwise say how.
$(DATA_STAMP): scripts/install-data.sh
	bash scripts/install-data.sh
	touch $(DATA_STAMP)

data:
	bash scripts/install-data.sh

run: setup
	$(VENV)/bin/deepnotes run $(LESSON) --out $(OUT)

test: setup
	$(PY) -m pytest -n 2 --dist worksteal tests

bench: setup
	$(PY) benchmarks/run_all.py

# every lesson as a Jupyter notebook in notebooks/ (generated, not committed)
notebooks: setup
	$(VENV)/bin/deepnotes notebook --all --out notebooks

# docs/concepts.md: concept ID -> code, tests, lessons (tests/test_concepts.py checks it is fresh)
concepts: $(STAMP)
	$(PY) -m deepnotes.concepts > docs/concepts.md.tmp
	mv docs/concepts.md.tmp docs/concepts.md

clean-venv:
	rm -rf $(VENV)
