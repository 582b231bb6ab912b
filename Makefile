# segpilot: `make demo` installs everything and runs the main job; `make test` installs and tests.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.segpilot-installed
PIP    := $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt

.PHONY: install demo test test-fast bench lint clean

$(STAMP): requirements.txt requirements-ros.txt requirements-dev.txt constraints.txt setup.py
	bash scripts/install_system_deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps -e .
	$(VENV)/bin/segpilot ros-index
	$(PY) -m segpilot.policies.qa.hf_import
	touch $(STAMP)

# The serial FPS kernels compiled ahead of time (a fresh process prunes without waiting for numba's JIT load);
# rebuilt when the kernels change, skipped where numba.pycc is missing.
AOT    := segpilot/perception/pruning/_fps_aot.json
$(AOT): $(STAMP) segpilot/perception/pruning/fps_cpu.py segpilot/perception/pruning/fps_cells.py \
        segpilot/perception/pruning/aot.py
	$(PY) -m segpilot.perception.pruning.aot

install: $(STAMP) $(AOT)

demo: install
	$(VENV)/bin/segpilot ask "What color is the box on the table?" --out runs/demo

test: install
	$(PY) -m ruff check segpilot tests scripts launch
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

test-fast: install
	$(PY) -m ruff check segpilot tests scripts launch
	$(PY) -m pytest -m "not slow"

bench: install
	$(VENV)/bin/segpilot bench prune

clean:
	rm -rf $(VENV) runs .pytest_cache
