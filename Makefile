# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
MODELS := var/models/.prepared-$(shell sha256sum services/estimator/models/manifest.json | cut -c1-12)
# `make run` is for trying Vigil on this machine: development mode (random JWT key per start).
# Production needs VIGIL_ENV=production and VIGIL_JWT__KEY (see docs/settings.md).
export VIGIL_ENV ?= development

.PHONY: install models run test lint typecheck pytest bench bench-capacity fuzz soak clean system

install: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[cpu,models,dev]"
	rm -f $(VENV)/.installed-* && touch $@

models: $(MODELS)
$(MODELS): $(STAMP) services/estimator/models/manifest.json infra/prepare_models.py
	$(PY) -m infra.prepare_models --out var/models --cache var/cache
	rm -f var/models/.prepared-* && touch $@

run: install models
	$(VENV)/bin/vigil run

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

pytest: install models system node
	$(VENV)/bin/pytest

# axe-core, TypeScript and jose for the check page's tests (pinned by package-lock.json; nothing of it
# is served): `npm ci` with the machine's Node.js, again whenever the lock file changes.
NODE_STAMP := node_modules/.installed-$(shell sha256sum package-lock.json | cut -c1-12)
.PHONY: node
node: $(NODE_STAMP)
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# Debian's Chromium, nginx and Prometheus for the tests that run them (installed as root when missing).
system:
	sh infra/install_system.sh

test: lint typecheck pytest

# The fast loop: lint, types and every test that starts no process, browser or container and needs
# no media or model (those are marked e2e, tests/conftest.py): under a minute on the 2-core VM.
.PHONY: check
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -m "not e2e"

# The Dockerfile and compose.yaml for real (podman): image built, stack up, a session over wss:// through
# nginx, stack down (tests/containers/check.py). Not part of `make test` (the build takes minutes); CI runs both.
.PHONY: test-containers
test-containers: install
	sh infra/install_system.sh containers
	$(PY) -m tests.containers.check

bench: install models
	$(PY) -m load.bench_roundtrip
	$(PY) -m load.bench_estimator

# Concurrent paced sessions against `vigil run` (defaults), swept over N: README "Capacity".
SESSIONS ?= 4,8,12,16,24
bench-capacity: install models
	$(PY) -m load.bench_capacity --sessions $(SESSIONS)

# Redis CPU per 100 frames/s: ~40 KB frames through the real services, Redis's INFO cpu/commandstats.
.PHONY: bench-redis
bench-redis: install models
	$(PY) -m load.bench_redis_cpu

# The LPProto and image-path fuzzer at length (make test runs 1,000 examples): README "Fuzzing".
FUZZ_EXAMPLES ?= 10000
fuzz: install models
	VIGIL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest tests/test_fuzz.py

# 30 minutes at 70 % of the measured capacity (27 of the 38.2 frames/s 8 sessions got at p95 <= 300 ms),
# two estimators as `vigil run` starts on 2 cores: RSS, streams, pending, p95 at start and end.
soak: install models
	$(PY) -m load.soak_retention --minutes 30 --rate 27 --sessions 6 --estimators 2

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache node_modules
