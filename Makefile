# One entry point for people and CI. `make test` and `make demo` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
WEBUI_VENV := .venv-webui
LAMBDA_VENV := .venv-lambda
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup test-setup test lint typecheck check synth deploy destroy demo bench bench-gpu clean
.PHONY: stage-base-model check-base-model
.PHONY: ui

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Every environment installs exactly its lock (hashes, no resolver): `make locks` writes them from the
# top-level pins (docs/development.md#locks). The CPU build of torch comes from TORCH_CPU_WHEELS.
TORCH_CPU_WHEELS ?= /opt/wheels
PIP_SYNC = --quiet --disable-pip-version-check --require-hashes --no-deps
# The contract (the repository root's one distribution, avatar_contract) and the SDK that depends on it
# (pure Python, from this tree): editable, no index, no build isolation.
PIP_CLIENT = --quiet --disable-pip-version-check --no-deps --no-index --no-build-isolation -e . -e ./client

$(VENV)/.installed: requirements-dev.lock requirements-triton.lock pyproject.toml client/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_SYNC) --find-links $(TORCH_CPU_WHEELS) -r requirements-dev.lock
	$(PY) -m pip install $(PIP_SYNC) -r requirements-triton.lock
	$(PY) -m pip install $(PIP_CLIENT)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Lambda functions' wheels (lambdas/requirements.lock) for both architectures, so synth runs offline.
.whl/.fetched: $(VENV)/.installed lambdas/requirements.lock
	$(PY) -m stacks.lambda_code
	touch $@

# NumPy 1.x for the Triton Python backend stub shipped in nvidia-pytriton (its pybind11 predates NumPy 2);
# installed once, so the hosting tests and the local cloud run offline afterwards.
$(VENV)/.triton-stub: $(VENV)/.installed containers/hosting/triton-stub.lock
	PYTHONPATH=containers/hosting $(PY) -c "from hosting_server.triton import stub_extra_packages; print(stub_extra_packages())"
	touch $@

setup: $(VENV)/.installed node_modules/.installed .whl/.fetched $(VENV)/.triton-stub ## Create .venv, install pinned deps, CDK CLI, Lambda wheels

test-setup: setup $(WEBUI_VENV)/.installed $(LAMBDA_VENV)/.installed ## setup, plus the web app's venv (browser test) and the Lambda tests' (CPython 3.12)

# The Lambda code on the Lambda runtime's Python (3.12), torch-free, with exactly the bundled packages.
# The first CPython 3.12 that runs: python3.12 on PATH, else a pyenv install.
PYTHON_LAMBDA ?= $(shell for p in python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12); do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
# Two pytest-xdist workers; each module stays on one, and the users of a costly session fixture (the local
# cloud, the synth) form one group (tests/conftest.py). The groups go out in collection order, the end-to-end
# modules (minutes each) first and the unit tests last to fill in, not reordered by their number of tests
# (xdist's default, which sent the few-test, longest modules last). PYTEST_WORKERS= runs in one process.
PYTEST_WORKERS ?= -n 2 --dist loadgroup --no-loadscope-reorder

.PHONY: test-lambda
# Which tests are the Lambda code's (and which of those need the development environment, so stay in the
# main run): LAMBDA_TESTS in tests/conftest.py. `make test` runs each test once
# (docs/development.md#how-make-test-runs-the-suite).

$(LAMBDA_VENV)/.installed: lambdas/requirements-test.lock
	@test -n "$(PYTHON_LAMBDA)" || { echo "make test-lambda needs CPython 3.12 (the Lambda runtime's Python): install it or set PYTHON_LAMBDA=/path/to/python3.12" >&2; exit 1; }
	test -x $(LAMBDA_VENV)/bin/python || $(PYTHON_LAMBDA) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/python -m pip install $(PIP_SYNC) -r lambdas/requirements-test.lock
	touch $@

test-lambda: $(LAMBDA_VENV)/.installed ## The handler, contract and client tests on Python 3.12 (.venv-lambda)
	$(LAMBDA_VENV)/bin/python -m pytest -p no:cacheprovider $(PYTEST_WORKERS) --lambda-tests=only

# lint-imports: the import rules ([tool.importlinter] in pyproject.toml, docs/development.md); the package
# folders of pytest's pythonpath on PYTHONPATH so every root package resolves.
IMPORT_PATH := lambdas:containers/training:containers/hosting:client

lint: setup ## ruff over the whole tree; the import rules; every lock current with its pins
	$(PY) -m locks --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m vulture
	PYTHONPATH=$(IMPORT_PATH) $(VENV)/bin/lint-imports --no-cache

typecheck: setup ## mypy (pydantic plugin) over every package ([tool.mypy] in pyproject.toml)
	$(VENV)/bin/mypy

test: test-setup lint typecheck ## Lint, type check, then the whole test suite (unit, infrastructure, integration, e2e)
	$(PY) -m pytest $(PYTEST_WORKERS) --lambda-tests=exclude
	$(MAKE) test-lambda

check: test ## Everything before a commit: lint + typecheck + tests (what CI runs)

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

.PHONY: smoke
smoke: setup ## After a deploy: endpoints InService on the configured AMI, base model staged, queue (FULL=1 SELFIES=dir: + train, generate)
	$(PY) -m avatar_client doctor $$($(PY) -m stacks.config --doctor-args) $(if $(FULL),--full --selfies $(SELFIES))

# BASE_MODEL=sdxl-base-1.0 runs the local cloud, the demo and the web app on that base family's tiny
# random-weight model (cdk.json's `baseModel` otherwise), as `cdk -c baseModel=...` deploys it.
LOCAL_CONTEXT := $(if $(BASE_MODEL),-c baseModel=$(BASE_MODEL))

demo: setup ## The whole product on this machine: the local cloud, a training and two avatars (BASE_MODEL=sdxl-base-1.0: on SDXL)
	$(PY) -m local_cloud.demo $(LOCAL_CONTEXT)

# The web app (docs/webui.md) in its own environment: it needs only the contract, the SDK and gradio, and every gradio
# release pins pillow<13 where the main environment pins pillow 13.
$(WEBUI_VENV)/.installed: webui/requirements.lock pyproject.toml client/pyproject.toml
	test -x $(WEBUI_VENV)/bin/python || $(PYTHON) -m venv $(WEBUI_VENV)
	$(WEBUI_VENV)/bin/python -m pip install $(PIP_SYNC) -r webui/requirements.lock
	$(WEBUI_VENV)/bin/python -m pip install $(PIP_CLIENT)
	touch $@

ui: setup $(WEBUI_VENV)/.installed ## The web app on http://127.0.0.1:7860/ over the local cloud (Ctrl-C stops both; BASE_MODEL=sdxl-base-1.0: on SDXL)
	$(PY) -m local_cloud up $(LOCAL_CONTEXT)
	trap '$(PY) -m local_cloud down' EXIT; $(if $(BASE_MODEL),AVATAR_BASE_FAMILY=$(BASE_MODEL)) $(WEBUI_VENV)/bin/python -m webui --local-cloud .local-cloud

bench: setup ## CPU benchmarks: a table on stdout, JSON in benchmarks/results/ (after their toy-size check)
	$(PY) -m pytest -p no:cacheprovider -m bench tests/unit/benchmarks
	$(PY) -m benchmarks

bench-gpu: ## GPU benchmarks (run on a GPU machine; see benchmarks/README); BASE_MODEL=dir SELFIES=dir: + likeness per checkpoint
	$(PY) -m benchmarks.gpu $(if $(SELFIES),--base-model $(BASE_MODEL) --selfies $(SELFIES))

# `make locks` (docs/development.md#locks) resolves every environment's top-level pins into its
# hash-pinned lock with uv, itself installed from locks/tools.lock; `make images` builds both images from
# their Dockerfiles with buildah on Debian stand-in bases (no Docker engine) and smoke-runs them. The cache
# (stand-in root, wheels) lives in IMAGES_CACHE; buildah's layer cache in its own storage.
.PHONY: locks images images-cuda
IMAGES_CACHE ?= .images
UV := .images/tools/bin/uv

$(UV): locks/tools.lock
	test -x .images/tools/bin/python || $(PYTHON) -m venv .images/tools
	.images/tools/bin/pip install $(PIP_SYNC) -r locks/tools.lock
	touch $@

locks: $(UV) ## Regenerate every lock file from the top-level pins (needs the package index)
	$(PYTHON) -m locks --uv $(UV) --torch-wheels $(TORCH_CPU_WHEELS)

images: setup ## Build both images with buildah on Debian stand-in bases, smoke-run them on each base family (BASE_MODEL=...: that one only)
	command -v buildah >/dev/null && command -v debootstrap >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap; }
	$(PY) -m images --cache $(IMAGES_CACHE) $(if $(BASE_MODEL),--family $(BASE_MODEL))

images-cuda: setup ## Build both images from their real locks (CUDA torch, ~3 GB of wheels) on Ubuntu 24.04 stand-ins, import-check them
	command -v buildah >/dev/null && command -v debootstrap >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap; }
	$(PY) -m images.cuda --cache $(IMAGES_CACHE)

clean: ## Remove generated output (keeps .venv and node_modules)
	rm -rf cdk.out demo-out .local-cloud .pytest_cache .ruff_cache .mypy_cache
