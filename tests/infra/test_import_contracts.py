"""The layer contracts of ``pyproject.toml`` (ADR 0145) hold on the tree, and break on an upward
import: a copy of the package with one added import is refused, naming the import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_tree_keeps_its_contracts() -> None:
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.slow  # three copies of the tree, linted from scratch
@pytest.mark.parametrize(("module", "line", "named"), [
    ("core/units.py", "import arbiter.cli.main", "arbiter.core.units -> arbiter.cli.main"),
    ("execution/journal.py", "import ray", "arbiter.execution.journal -> ray"),
    ("security/secrets.py", "import arbiter.tenancy.store",
     "arbiter.security.secrets -> arbiter.tenancy.store"),
])
def test_an_upward_or_forbidden_import_breaks_the_lint(tmp_path: Path, module: str, line: str,
                                                        named: str) -> None:
    shutil.copytree(ROOT / "arbiter", tmp_path / "arbiter",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "arbiter" / module
    target.write_text(target.read_text() + f"\n{line}  # the violation\n")
    out = lint(tmp_path)
    assert out.returncode != 0
    assert named in out.stdout, out.stdout
