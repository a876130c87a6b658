# Everything a fresh machine needs goes through these targets; .ci/run calls `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: install example test unit lint fuzz crds bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

## Run the classic add/subtract/multiply pipeline on the local runner: prints 40 as multiply's result.
example: install
	$(BIN)/kubeline run examples/add-subtract-multiply.yaml -p value_1=7 -p value_2=3

## All tests: unit tests, then integration tests against a control plane the tests start (see hack/), and
## the web UI's browser tests (chromium, chromedriver and graphviz's dot from Debian: hack/browser).
## pytest's "no tests collected" (exit 5) counts as a failure: it means the suite is misconfigured.
test: install lint
	hack/cluster build
	hack/helm.sh >/dev/null
	hack/browser ensure
	@$(BIN)/python -m pytest; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: the suite is misconfigured" >&2; fi; \
	  exit $$status

## The linters, then the unit tests: no cluster, and nothing built or installed for them (tests marked
## `toolchain`, which need Helm built with Go or the KFP v1 SDK, run in `make test`; tests drawing with graphviz's
## `dot` skip, saying so, where it is missing: `hack/browser ensure` installs it).
unit: install lint
	$(BIN)/python -m pytest tests/unit -m "not toolchain"

LINTED := operator tests benchmarks examples
## ruff (lint and format), mypy (strict on api/ and engine/) and import-linter (the layers in pyproject.toml).
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/lint-imports

## The property-based tests with many more examples (tests/unit/test_properties.py); N=20000 by default.
fuzz: install
	KUBELINE_FUZZ_EXAMPLES=$${N:-20000} $(BIN)/python -m pytest tests/unit/test_properties.py -q --hypothesis-show-statistics

## Regenerate crds/ from the API models, and their copies in the Helm chart and manifests/ (tests fail on drift).
crds: install
	$(BIN)/kubeline crds --write crds/
	cp crds/*.yaml charts/kubeline/crds/
	cp crds/*.yaml manifests/crds/

bench: install
	$(BIN)/python benchmarks/local_runner_bench.py
