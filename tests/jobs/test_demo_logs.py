"""``arbiter demo`` end to end: no secret in any log it produced, and JSON records with ids.

The demo runs as the real command in a subprocess, with ``RAY_TMPDIR`` pointing its embedded
Ray at a directory of the test's own, so "every log" is: the command's stdout and stderr, its
log file (the driver, the local venues' process and every Ray worker append to it), and every
file under that Ray session's ``logs`` directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.jobs.log_audit import json_records, leaks, log_files, paper_secrets, read

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_logs_hold_no_secret_and_carry_saga_ids(tmp_path: Path) -> None:
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # short: Ray's socket paths
    workdir = tmp_path / "demo"
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "PYTHONUNBUFFERED": "1"}
    env.pop("ARBITER_LOG_FILE", None)
    env.pop("ARBITER_LOG_FORMAT", None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "arbiter", "demo", "--seconds", "8", "--workdir", str(workdir)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
        )
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
        files = log_files(ray_tmp, workdir)
        assert any(p.name.startswith("worker-") for p in files), files
        texts = [("stdout", proc.stdout), ("stderr", proc.stderr),
                 *((str(p), read(p)) for p in files)]
        # the Ray token (the suite's, tests/conftest.py) is a secret like the venues' keys
        token = Path(os.environ["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
        assert leaks([*paper_secrets(workdir), token], texts) == []
        log = workdir / "arbiter.log"
        assert f"logs in {log}" in " ".join(proc.stdout.split())
        # the dashboard URL, with where its token is (ADR 0166)
        flat = "".join(proc.stdout.split())
        assert "Raydashboard:http://127.0.0.1:" in flat, proc.stdout[-2000:]
        assert f"tokenauth:pastethetokenfrom{os.environ['RAY_AUTH_TOKEN_PATH']}" in flat
        records = list(json_records([read(log)]))
        sagas = [r for r in records if r["logger"] == "arbiter.execution.executor"]
        assert sagas, records[-20:]
        for r in sagas:  # written in the arbiter actor's worker process
            assert r["saga_id"] and r["tenant_id"] and r["pair"], r
        # every line of the log file is one JSON object, whoever wrote it
        lines = [line for line in read(log).splitlines() if line]
        assert len(records) == len(lines)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
