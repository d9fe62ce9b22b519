# fnpool developer commands. Every target installs what it needs, so a fresh machine works.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 9445

.PHONY: venv run test test-fast lint proto wrapper bench cluster-build cluster-up cluster-down clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	touch $@

## make run: the embedded default — `fnpool serve --local` over the example functions.
run: $(STAMP)
	$(MAKE) -C examples
	@echo "fnpool: serving on $(HOST):$(PORT). Try, in another terminal:"
	@echo "  $(VENV)/bin/fnpool eval example/set-label examples/manifests --endpoint $(HOST):$(PORT) -- team=blue"
	$(VENV)/bin/fnpool serve --local --config examples/functions.yaml --host $(HOST) --port $(PORT)

## make test: lint, type-check and the whole test suite (unit, integration, cluster e2e).
## Needs root: it installs the test cluster's Debian packages and runs a real cluster.
test: $(STAMP) lint
	$(MAKE) -C examples
	bash scripts/build-wrapper.sh
	$(MAKE) cluster-build
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check operator tests bench scripts
	$(VENV)/bin/ruff format --check operator tests bench scripts
	$(VENV)/bin/mypy

## make proto: regenerate the committed gRPC stubs from the .proto (a test fails when stale).
proto: $(STAMP)
	$(PY) -m fnpool.proto.generate

wrapper:
	bash scripts/build-wrapper.sh

## The local test cluster (tests/cluster/README.md): binaries and images cached by version.
cluster-build: $(STAMP)
	bash tests/cluster/setup-host.sh
	$(PY) -m tests.cluster build

cluster-up: cluster-build
	$(PY) -m tests.cluster up

cluster-down: $(STAMP)
	$(PY) -m tests.cluster down

bench: $(STAMP)
	$(MAKE) -C examples
	$(PY) -m bench

clean:
	rm -rf $(VENV) .build dist .pytest_cache .mypy_cache .ruff_cache
