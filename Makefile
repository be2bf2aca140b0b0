# Every target sets itself up: a fresh machine needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.s2edit-installed
OUT ?= out/demo

.PHONY: setup test demo bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: an unpinned resolve would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,studio]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The main job on the bundled default: project a held-out image of the demo world into the
# shipped demo model, then render seeds from it.
demo: $(STAMP)
	$(BIN)/s2edit project examples/data/world_face.png --network demo --device cpu --outdir $(OUT) --force
	$(BIN)/s2edit generate --network demo --seeds 0-15 --grid --outdir $(OUT)/samples --force
	@echo "demo outputs in $(OUT)/"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generator.py

clean:
	rm -rf $(VENV) out .pytest_cache
