# One entry point for people and CI. `make test` and `make demo` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup test lint synth deploy destroy demo bench bench-gpu clean
.PHONY: stage-base-model check-base-model

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt $(wildcard client/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Lambda functions' wheels (lambdas/requirements.txt) for both architectures, so synth runs offline.
.whl/.fetched: $(VENV)/.installed lambdas/requirements.txt
	$(PY) -m stacks.lambda_code
	touch $@

# NumPy 1.x for the Triton Python backend stub shipped in nvidia-pytriton (its pybind11 predates NumPy 2);
# installed once, so the hosting tests and the local cloud run offline afterwards.
$(VENV)/.triton-stub: $(VENV)/.installed
	PYTHONPATH=containers/hosting $(PY) -c "from hosting_server.triton import stub_extra_packages; print(stub_extra_packages())"
	touch $@

setup: $(VENV)/.installed node_modules/.installed .whl/.fetched $(VENV)/.triton-stub ## Create .venv, install pinned deps, CDK CLI, Lambda wheels

lint: setup ## ruff over the whole tree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup ## Lint, then the whole test suite (unit, infrastructure, integration, e2e)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

synth: setup ## CloudFormation templates into cdk.out/ (no network, no credentials), cdk-nag applied
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(CDK) synth --quiet

deploy: setup stage-base-model ## Deploy to the account in your AWS credentials (needs a Docker engine)
	$(PY) -m base_model_staging check
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(CDK) deploy --all --require-approval broadening

# The storage stack first (its data bucket), then the pinned base model into it (docs/base-model.md).
stage-base-model: setup ## Stage the pinned base model into the data bucket (idempotent, resumable)
	$(PY) -m base_model_staging check --manifest-only
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(CDK) deploy AvatarStorage --require-approval broadening
	$(PY) -m base_model_staging stage

check-base-model: setup ## Fail unless the configured base model is staged (what `make deploy` checks)
	$(PY) -m base_model_staging check

destroy: setup ## Remove the stacks (the stateful stack keeps its buckets unless configured otherwise)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(CDK) destroy --all

demo: setup ## The whole product on this machine: the local cloud, a training and two avatars
	$(PY) -m local_cloud.demo

bench: setup ## CPU benchmarks: a table on stdout, JSON in benchmarks/results/
	$(PY) -m benchmarks

bench-gpu: ## GPU benchmarks (run on a GPU machine; see benchmarks/README)
	$(PY) -m benchmarks.gpu

clean: ## Remove generated output (keeps .venv and node_modules)
	rm -rf cdk.out demo-out .local-cloud .pytest_cache .ruff_cache
