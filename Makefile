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
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/s2edit generate --network tests/fixtures/ada_tiny.pkl --seeds 0-7 --grid --outdir $(OUT) --force
	@echo "demo outputs in $(OUT)/"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generator.py

clean:
	rm -rf $(VENV) out .pytest_cache
