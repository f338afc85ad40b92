# The two commands of the README:
#   make main   set up a fresh machine and run the main job on the embedded default
#   make test   set up (with test tools and the detection stack) and run the whole test suite (what CI runs)
PY := .venv/bin/python

.PHONY: main test setup setup-dev setup-det
setup:
	bash scripts/setup.sh
setup-dev:
	bash scripts/setup.sh dev
setup-det:
	bash scripts/setup.sh det

main: setup
	$(PY) tools/main.py

test: setup-det
	IIF_REQUIRE_DET=1 $(PY) -m pytest
