"""For tests that instrument the hot core (replace a Detector method, count calls of a module
function): a compiled module's methods are read-only and its calls are direct (ADR 0155), so
on the compiled build such a test runs itself again on the pure sources, in a subprocess, and
passes or fails with it. The two builds give byte-identical results (tests/core/test_native.py),
so this checks the logic both of them run."""

from __future__ import annotations

import os
import subprocess
import sys

from arbiter.core import compiled
from arbiter.core.native import PURE_ENV

__all__ = ["rerun_on_pure_sources"]


def rerun_on_pure_sources(file: str, test: str) -> bool:
    """True when the test ran (and passed) on the pure sources in a subprocess: the caller
    returns. False on the pure build: the caller runs its body here."""
    if not compiled().compiled:
        return False
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{file}::{test}"],
        env={**os.environ, PURE_ENV: "1"}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]
    return True
