"""The CI workflow, the Ray image and the Makefile targets agree with pyproject.toml."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tools import extra_requirements, run_checkov
from tools.check_infra import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
DOCKERFILE = ROOT / "cluster" / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _ray_pin() -> str:
    pins = [d for d in PYPROJECT["project"]["dependencies"] if re.match(r"ray(\[.*\])?==", d)]
    assert len(pins) == 1, pins
    return pins[0].split("==")[1]


def _dockerfile_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), re.M))


def test_dockerfile_ray_version_equals_pyproject_pin() -> None:
    assert _dockerfile_args()["RAY_VERSION"] == _ray_pin()


def test_dockerfile_compiles_the_core_with_the_locked_mypy() -> None:
    """The node image runs the mypyc-compiled core (ADR 0155), built by the dev lock's mypy."""
    lock = (ROOT / "requirements" / "dev.lock").read_text()
    pin = re.search(r"^mypy==(\S+)", lock, re.M)
    assert pin and _dockerfile_args()["MYPY_VERSION"] == pin.group(1)
    text = DOCKERFILE.read_text()
    assert '"mypy==${MYPY_VERSION}"' in text and "-m arbiter.compile_core" in text
    assert "sys.exit(not c.compiled().compiled)" in text  # the build fails without it
    targets = _make_targets()  # and so does every README command, through the venv
    for target in ("venv", "test", "demo"):
        assert "$(NATIVE_STAMP)" in targets[target].split(), target
    assert "$(PY) -m arbiter.compile_core --allow-pure --stamp $(NATIVE_STAMP)" in (
        ROOT / "Makefile").read_text()


def test_dockerfile_python_matches_requires_python() -> None:
    requires = PYPROJECT["project"]["requires-python"]
    assert requires == f">={_dockerfile_args()['PYTHON_VERSION']}"


def test_dockerfile_installs_the_pinned_ray_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    assert 'ray[default]==${RAY_VERSION}' in text
    assert "ray.__version__ != '${RAY_VERSION}'" in text  # build fails on a mismatch
    assert re.search(r"^USER ray$", text, re.M)
    assert re.search(r"^HEALTHCHECK ", text, re.M)
    # every stage starts from a pinned tag
    for image in re.findall(r"^FROM (\S+)", text, re.M):
        assert ":" in image and not image.endswith(":latest")


def test_workflow_parses_and_runs_the_make_targets() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    # PyYAML reads the bare key `on` as True
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers and "push" in triggers and "schedule" in triggers
    runs: dict[str, list[str]] = {}
    for name, job in workflow["jobs"].items():
        steps = job["steps"]
        setup = [s for s in steps if s.get("uses", "").startswith("actions/setup-python")]
        assert setup and "3.11" in str(setup[0]["with"]["python-version"]), name
        runs[name] = [s["run"] for s in steps if "run" in s]
    # every job is exactly one make target: no step that only CI knows
    assert {name: rs for name, rs in runs.items()} == {
        "lint": ["make lint"], "test": ["make test"], "docs": ["make docs"],
        "test-latest": ["make test-latest"]}
    # the newest-versions job runs on the schedule only, the others never on it
    jobs = workflow["jobs"]
    assert "schedule" in jobs["test-latest"]["if"] and "==" in jobs["test-latest"]["if"]
    for name in ("lint", "test", "docs"):
        assert jobs[name]["if"] == "github.event_name != 'schedule'"


def test_ci_run_calls_only_the_readme_commands() -> None:
    """.ci/run installs nothing itself: `make test` does its own set-up (issue 17)."""
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith(("#", "echo", "export", "set ",
                                                                 "cd ", "start="))]
    assert commands == ["make lint", "make test", "make docs"]
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme


def test_sysdeps_is_what_make_test_runs_first() -> None:
    targets = _make_targets()
    assert targets["test"].split()[0] == "sysdeps"
    script = (ROOT / "tools" / "sysdeps.sh").read_text()
    for package in ("postgresql", "prometheus"):
        assert package in script
    assert "by_hand" in script  # not root / not Debian: says what to install, exits 1


def _make_targets() -> dict[str, str]:
    targets: dict[str, str] = {}
    for match in re.finditer(r"^([\w.-]+):([^=\n]*)$", (ROOT / "Makefile").read_text(), re.M):
        targets[match.group(1)] = match.group(2)
    return targets


def test_makefile_wires_docs_and_infra_checks() -> None:
    targets = _make_targets()
    assert "lint-infra" in targets["lint"].split()
    assert "docs" in targets and "lint-infra" in targets
    makefile = (ROOT / "Makefile").read_text()
    assert "mkdocs build --strict" in makefile
    assert "requirements/dev.lock" in makefile  # docs come from the dev lock
    assert "tools.check_infra" in makefile and "tools.run_checkov" in makefile


def test_infra_extra_is_read_from_pyproject() -> None:
    assert extra_requirements.requirements("infra") == PYPROJECT["project"][
        "optional-dependencies"]["infra"]
    assert any(r.startswith("checkov==") for r in extra_requirements.requirements("infra"))
    with pytest.raises(KeyError):
        extra_requirements.requirements("no-such-extra")


def test_extra_requirements_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert extra_requirements.main(["docs"]) == 0
    assert "mkdocs" in capsys.readouterr().out
    assert extra_requirements.main([]) == 2
    assert extra_requirements.main(["nope"]) == 2
    assert "no optional-dependencies group 'nope'" in capsys.readouterr().err


def test_checkov_report_fails_on_findings_and_unparsed_files() -> None:
    """A real checkov 3.3.30 JSON report (one failed check, one suppressed check, one file it
    could not parse): run_checkov must report both the failure and the unparsed file, since
    checkov itself exits 0 on a parse error."""
    raw = (Path(__file__).parent / "data" / "checkov_terraform_report.json").read_text()
    resources, problems, notes = run_checkov.evaluate("terraform", raw)
    assert resources == 1
    assert problems == [
        "terraform: could not parse /tmp/tfbad2/broken.tf (it was not checked)",
        "terraform: CKV_AWS_3 Ensure all data stored in the EBS is securely encrypted — "
        "/main.tf aws_ebs_volume.v",
    ]
    assert "skipped CKV_AWS_189 in /main.tf: fixture: a suppressed check with its reason" in notes


def test_checkov_bare_summary_means_nothing_scanned() -> None:
    raw = '{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}'
    resources, problems, _ = run_checkov.evaluate("dockerfile", raw)
    assert (resources, problems) == (0, [])


def test_checkov_reports_of_several_frameworks_are_all_read() -> None:
    one = {"summary": {"resource_count": 2}, "results": {"failed_checks": []}}
    bad = {"summary": {"resource_count": 1},
           "results": {"failed_checks": [{"check_id": "CKV_X", "check_name": "n",
                                          "file_path": "/f", "resource": "r"}]}}
    resources, problems, _ = run_checkov.evaluate("terraform", json.dumps([one, bad]))
    assert resources == 3 and problems == ["terraform: CKV_X n — /f r"]
