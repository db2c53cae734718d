# One virtual environment, created and brought up to date by whichever target needs it.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lint test test-all demo mutation

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check crossmodal tools tests
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

test: lint
	$(PY) -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -q

# CRD and its core baselines trained and judged once (seed 0) on the embedded rooms and audio-visual events: runs/demo/report.md
demo: $(STAMP)
	$(PY) tools/demo.py

# Mutation testing of the modules where a silent bug changes results, against their own fast tests
# (scope and selection in pyproject.toml [tool.mutmut]; score and judged-equivalent survivors in tests/README.md).
# mutmut is pinned in the lock (the project's 'mutation' extra). Not part of CI: about half an hour on 2 cores.
mutation: $(STAMP)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results
