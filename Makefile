# Every target that runs code first makes sure its venv exists and holds exactly the versions of
# its lock file (requirements/*.lock, ADR 0100); `make lock` re-resolves them from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements/dev.lock
PYTEST_ARGS ?=
# the compiled hot core's stamp and what it is built from (ADR 0155; the rule is below venv)
NATIVE_STAMP := $(VENV)/.native
NATIVE_SOURCES := $(addprefix arbiter/core/,price_grid.py book.py fees.py sizing.py detection.py gate.py tape.py \
                    units.py pairs.py native.py) arbiter/compile_core.py

.PHONY: test test-unit demo lint bench clean venv docs lint-infra sysdeps lock test-latest kalshi-sdk-venv

venv: $(STAMP) $(NATIVE_STAMP)

# The lock is checked against pyproject.toml first (stdlib only), so an edited pyproject.toml
# without `make lock` stops here with the reason instead of installing something else.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m tools.lock --check dev
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The compiled hot core (ADR 0155): mypyc (from the dev lock) builds books, fees, sizing and
# detection into the venv's site-packages/arbiter_core_native; rebuilt when those sources change.
# arbiter.core imports it only for sources with the hashes it was built from (pure otherwise).
# Without a C compiler it says so and the tree runs pure (no stamp: the next make tries again);
# where CI is set a failed build fails the target.
$(NATIVE_STAMP): $(STAMP) $(NATIVE_SOURCES)
	$(PY) -m arbiter.compile_core --allow-pure --stamp $(NATIVE_STAMP)

# System packages the suite starts for real (PostgreSQL, Prometheus + promtool): installed when
# missing on Debian as root (or with passwordless sudo); otherwise it says what to install.
sysdeps:
	bash tools/sysdeps.sh

# Re-resolve every lock to the newest versions pyproject.toml's ranges allow (uv, from the lock).
# It needs only the venv's uv, not an up-to-date venv: after an edit of pyproject.toml the venv's
# check refuses to install until the lock is re-resolved, so this must not wait for it.
lock:
	test -x $(VENV)/bin/uv || $(MAKE) venv
	$(PY) -m tools.lock

test: sysdeps $(STAMP) $(NATIVE_STAMP) kalshi-sdk-venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The unit ring alone (no sockets, no Ray, no PostgreSQL; tests/README.md): under a minute.
test-unit: $(STAMP)
	$(PY) -m pytest -m "not integration and not fault and not slow" $(PYTEST_ARGS)

# The current official Kalshi SDK needs Python >= 3.13, so it gets its own venv from its own lock;
# the conformance test runs it unchanged against the local Kalshi. Where no 3.13 interpreter
# exists (pyenv's or on PATH) this says so and that one test skips with the same reason.
KALSHI_SDK_VENV  := .venv-kalshi-sdk
KALSHI_SDK_STAMP := $(KALSHI_SDK_VENV)/.installed
PYTHON313 ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))

kalshi-sdk-venv:
ifeq ($(PYTHON313),)
	@echo "kalshi-sdk-venv: no Python 3.13 found (pyenv or python3.13 on PATH): the current Kalshi SDK test will skip"
else
	@$(MAKE) --no-print-directory $(KALSHI_SDK_STAMP)
endif

$(KALSHI_SDK_STAMP): pyproject.toml requirements/kalshi-sdk.lock
	$(PYTHON) -m tools.lock --check kalshi-sdk
	test -x $(KALSHI_SDK_VENV)/bin/python || $(PYTHON313) -m venv $(KALSHI_SDK_VENV)
	$(KALSHI_SDK_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/kalshi-sdk.lock
	touch $(KALSHI_SDK_STAMP)

# The suite (and the lint gate) against the newest versions the ranges in pyproject.toml allow,
# in its own venv, re-resolved on every run: an upstream release that breaks us fails here, by
# name, while `make test` stays on the lock. The scheduled CI job runs this.
LATEST_VENV := .venv-latest
test-latest: sysdeps
	$(PYTHON) -m venv --clear $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager pip -e '.[dev,docs]'
	$(LATEST_VENV)/bin/python -m arbiter.compile_core
	$(LATEST_VENV)/bin/python -m pip list --format=freeze > $(LATEST_VENV)/versions.txt
	@echo "test-latest: resolved versions in $(LATEST_VENV)/versions.txt"
	$(LATEST_VENV)/bin/ruff check arbiter tests bench jobs tools || { echo "test-latest: ruff (newest) fails; the lock is unaffected"; exit 1; }
	$(LATEST_VENV)/bin/mypy || { echo "test-latest: mypy (newest) fails; the lock is unaffected"; exit 1; }
	$(LATEST_VENV)/bin/python -m pytest $(PYTEST_ARGS) || { echo "test-latest: the suite fails on the newest versions; the lock is unaffected"; exit 1; }

# Live paper-money demo: local Ray (CLUSTER=local, or local4 = four local nodes, one per node
# class), both local venues, the engine; runs DEMO_SECONDS and prints a summary.
DEMO_SECONDS ?= 60
CLUSTER ?= local
demo: $(STAMP) $(NATIVE_STAMP)
	$(VENV)/bin/arbiter demo --seconds $(DEMO_SECONDS) --cluster $(CLUSTER)

lint: $(STAMP) lint-infra
	$(PY) -m tools.lock --check
	$(VENV)/bin/ruff check arbiter tests bench jobs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Docs (the `docs` extra is in the dev lock); generated reference pages come from tools/mkdocs_hooks.py.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Infra checks: HCL parse + structure (python-hcl2, in dev) and checkov. checkov lives in its own
# venv because it pins old boto3/packaging and ships a conflicting `hcl2` module.
INFRA_VENV  := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

$(INFRA_STAMP): pyproject.toml requirements/infra.lock
	$(PYTHON) -m tools.lock --check infra
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/infra.lock
	touch $(INFRA_STAMP)

lint-infra: $(STAMP) $(INFRA_STAMP)
	$(VENV)/bin/ruff check tools
	$(PY) -m tools.check_infra
	$(PY) -m tools.run_checkov --checkov $(INFRA_VENV)/bin/checkov

# Every benchmark, one after the other; each prints its figures and writes bench/results/*.json.
bench: $(STAMP) $(NATIVE_STAMP)
	$(PY) -m bench.compiled --json
	$(PY) -m bench.core --json
	$(PY) -m bench.fees --json
	$(PY) -m bench.kalshi_ws --json
	$(PY) -m bench.polymarket_ws --json
	$(PY) -m bench.chaos --runs 200 --json
	$(PY) -m bench.latency --json
	$(PY) -m bench.backtest --json
	$(PY) -m bench.sweep --json
	$(PY) -m bench.observability --json

clean:
	rm -rf $(VENV) $(INFRA_VENV) $(LATEST_VENV) $(KALSHI_SDK_VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
