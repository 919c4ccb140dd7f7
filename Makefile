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

demo: $(STAMP)
	$(VENV)/bin/arbiter demo

lint: $(STAMP) lint-infra
	$(VENV)/bin/ruff check arbiter tests bench jobs
	$(VENV)/bin/mypy

# Docs: the `docs` extra on top of dev; generated reference pages come from tools/mkdocs_hooks.py.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs build --strict

# Infra checks: HCL parse + structure (python-hcl2, in dev) and checkov. checkov lives in its own
# venv because it pins old boto3/packaging and ships a conflicting `hcl2` module.
INFRA_VENV  := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed
CHECKOV     := $(INFRA_VENV)/bin/checkov --quiet --compact --skip-download

$(INFRA_STAMP): pyproject.toml
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) tools/extra_requirements.py infra > $(INFRA_VENV)/requirements.txt
	$(INFRA_VENV)/bin/python -m pip install --quiet -r $(INFRA_VENV)/requirements.txt
	touch $(INFRA_STAMP)

lint-infra: $(STAMP) $(INFRA_STAMP)
	$(VENV)/bin/ruff check tools
	$(PY) -m tools.check_infra
	$(CHECKOV) --framework terraform -d terraform
	$(CHECKOV) --framework dockerfile -f cluster/Dockerfile
	$(CHECKOV) --framework github_actions -f .github/workflows/ci.yml

bench: $(STAMP)
	$(PY) -m bench.core --json --mypyc

clean:
	rm -rf $(VENV) $(INFRA_VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
