"""The lock files match pyproject.toml, and the check that says so can fail (ADR 0100)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tools import lock
from tools.check_infra import ROOT


@pytest.mark.parametrize("env", lock.ENVIRONMENTS, ids=lambda e: e.name)
def test_every_lock_is_in_sync_with_pyproject(env: lock.Environment) -> None:
    assert lock.problems(env) == []


def test_every_lock_pins_with_hashes() -> None:
    for env in lock.ENVIRONMENTS:
        text = env.lock.read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split(lock.DIGEST_PREFIX, 1)[1].split("\n", 1)[1])
        for block in blocks:
            if block.strip():
                assert "==" in block.split()[0] and "--hash=sha256:" in block, (env.name, block[:80])


def test_the_dev_lock_pins_the_gate_tools_exactly() -> None:
    pinned = lock.pins(lock.ENVIRONMENTS[0].lock)
    for tool in ("mypy", "ruff", "pytest", "msgspec", "ray", "uv", "setuptools", "wheel"):
        assert tool in pinned, tool


def _copy_pyproject(tmp_path: Path) -> Path:
    target = tmp_path / "pyproject.toml"
    shutil.copy(ROOT / "pyproject.toml", target)
    return target


def test_an_edited_range_is_caught(tmp_path: Path) -> None:
    pyproject = _copy_pyproject(tmp_path)
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"msgspec>=0.18"', '"msgspec>=99"'))
    dev = lock.ENVIRONMENTS[0]
    found = lock.problems(dev, pyproject=pyproject)
    assert any("resolved from other requirements" in p for p in found)
    assert any("msgspec==" in p and "outside 'msgspec>=99'" in p for p in found)


def test_a_new_dependency_is_caught(tmp_path: Path) -> None:
    pyproject = _copy_pyproject(tmp_path)
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"msgspec>=0.18",', '"msgspec>=0.18",\n    "no-such-package-x>=1",'))
    found = lock.problems(lock.ENVIRONMENTS[0], pyproject=pyproject)
    assert any("no-such-package-x is not pinned" in p for p in found)


def test_a_missing_lock_is_caught(tmp_path: Path) -> None:
    found = lock.problems(lock.ENVIRONMENTS[0], lock=tmp_path / "dev.lock")
    assert found == ["dev.lock: missing; run `make lock`"]


def test_check_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert lock.main(["--check"]) == 0
    with pytest.raises(SystemExit):
        lock.main(["--check", "nope"])
    assert "unknown environment" in capsys.readouterr().err


def test_every_venv_target_installs_from_its_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [ln.strip() for ln in makefile.splitlines() if "pip install" in ln]
    # every install of a venv make builds reads a lock with hashes, except test-latest (by design)
    # and the project itself (editable, no dependencies)
    for line in installs:
        if ".venv-latest" in line or "LATEST_VENV" in line:
            continue
        assert (("--require-hashes" in line and ".lock" in line) or "LOCK" in line) or (
            "--no-deps" in line and "-e ." in line), line
    for env in lock.ENVIRONMENTS:
        assert f"tools.lock --check {env.name}" in makefile or (
            env.name == "dev" and "tools.lock --check dev" in makefile)
