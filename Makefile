# The two commands of the README:
#   make main   set up a fresh machine and run the main job on the embedded default
#   make test   set up (with test tools) and run the whole test suite (what CI runs)
PY := .venv/bin/python

.PHONY: main test setup setup-dev
setup:
	bash scripts/setup.sh
setup-dev:
	bash scripts/setup.sh dev

main: setup
	$(PY) tools/main.py

test: setup-dev
	$(PY) -m pytest
