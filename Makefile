# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates the virtualenv from the pinned versions in requirements.lock first.
# `make bench` measures speed, memory and accuracy (BENCHMARKS.md); it is not part of the tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOUSEHOLDS ?= 2000
OUT ?= demo-out
BENCH_SCALES ?= 2000 20000 200000
BENCH_OUT ?= bench-out
BENCH_REPEAT ?= 1
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install demo test bench lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sfmatch demo --households $(HOUSEHOLDS) --out $(OUT)

test: $(STAMP)
	$(BIN)/pytest

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test,bench]'
	touch $(BENCH_STAMP)

# `make bench BENCH_SCALES=2000000` adds the 2M scale to the results already in $(BENCH_OUT).
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py --households $(BENCH_SCALES) --repeat $(BENCH_REPEAT) --out $(BENCH_OUT) --febrl --report

# Re-resolve the dependency tree from pyproject.toml and pin it again.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/pip install --quiet -e '.[test,bench]'
	{ echo "# Exact versions for every install of sfmatch (used as pip constraints by the Makefile)."; \
	  echo "# Regenerate with 'make lock' after changing dependencies in pyproject.toml."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^sfmatch'; } > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) demo-out bench-out .pytest_cache
