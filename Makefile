# Every target that runs code first makes sure .venv exists and holds the project.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test demo lint bench clean venv docs lint-infra

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Live paper-money demo: local Ray (CLUSTER=local, or local4 = four local nodes, one per node
# class), both local venues, the engine; runs DEMO_SECONDS and prints a summary.
DEMO_SECONDS ?= 60
CLUSTER ?= local
demo: $(STAMP)
	$(VENV)/bin/arbiter demo --seconds $(DEMO_SECONDS) --cluster $(CLUSTER)

lint: $(STAMP) lint-infra
	$(VENV)/bin/ruff check arbiter tests bench jobs
	$(VENV)/bin/mypy

# Docs: the `docs` extra on top of dev; generated reference pages come from tools/mkdocs_hooks.py.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Infra checks: HCL parse + structure (python-hcl2, in dev) and checkov. checkov lives in its own
# venv because it pins old boto3/packaging and ships a conflicting `hcl2` module.
INFRA_VENV  := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

$(INFRA_STAMP): pyproject.toml
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) tools/extra_requirements.py infra > $(INFRA_VENV)/requirements.txt
	$(INFRA_VENV)/bin/python -m pip install --quiet -r $(INFRA_VENV)/requirements.txt
	touch $(INFRA_STAMP)

lint-infra: $(STAMP) $(INFRA_STAMP)
	$(VENV)/bin/ruff check tools
	$(PY) -m tools.check_infra
	$(PY) -m tools.run_checkov --checkov $(INFRA_VENV)/bin/checkov

# Every benchmark, one after the other; each prints its figures and writes bench/results/*.json.
bench: $(STAMP)
	$(PY) -m bench.core --json --mypyc
	$(PY) -m bench.kalshi_ws --json
	$(PY) -m bench.polymarket_ws --json
	$(PY) -m bench.chaos --runs 200 --json
	$(PY) -m bench.latency --json
	$(PY) -m bench.backtest --json --mypyc
	$(PY) -m bench.sweep --json
	$(PY) -m bench.observability --json

clean:
	rm -rf $(VENV) $(INFRA_VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
