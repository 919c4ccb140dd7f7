"""``jobs/live.py`` submitted through the Ray Jobs API to a local head with the dashboard on.

The head is started by the test (``ray start --head --block`` on free ports, its own temp dir,
token auth on as everywhere in the suite) and stopped by terminating that process, so no other
Ray instance on the machine is touched.
The job runs the engine in paper mode against both local venues and must end SUCCEEDED with
trades in its journal, and no secret of its credentials in any log the run produced (the job's
log, every file of the head's session log directory), whose records are JSON with saga ids.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from arbiter.core import compiled
from arbiter.engine.localcluster import free_port
from tests.jobs.log_audit import json_records, leaks, log_files, paper_secrets, read

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from jobs.live import RUNTIME_ENV  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def head_temp() -> str:
    """The head's ``--temp-dir``: its session logs are under ``session_*/logs``."""
    return tempfile.mkdtemp(prefix="rayjob-", dir="/tmp")


@pytest.fixture(scope="module")
def head(head_temp: str) -> Iterator[str]:
    dashboard = free_port()
    temp = head_temp
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    # token auth on, with the session's token (tests/conftest.py): the head, the job's driver
    # and workers, and this process's JobSubmissionClient all read RAY_AUTH_TOKEN_PATH
    assert env["RAY_AUTH_MODE"] == "token"
    cmd = [
        str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
        f"--port={free_port()}", f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}",
        f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
        "--num-cpus=2", f"--temp-dir={temp}", "--disable-usage-stats",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                JobSubmissionClient(address).list_jobs()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_live_job_succeeds_with_trades(head: str, head_temp: str, tmp_path: Path) -> None:
    client = JobSubmissionClient(head)
    runtime_env = {**RUNTIME_ENV, "working_dir": str(REPO)}
    job = client.submit_job(
        entrypoint=f"python jobs/live.py --paper --duration 8 --workdir {tmp_path}",
        runtime_env=runtime_env,
    )
    deadline = time.monotonic() + 180
    status = client.get_job_status(job)
    while not status.is_terminal() and time.monotonic() < deadline:
        time.sleep(1)
        status = client.get_job_status(job)
    logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
    summary = json.loads(logs.strip().splitlines()[-1])
    assert summary["layout"] == "single-node"
    # the upload holds the sources only; its workers still run the venv's compiled core (ADR 0155)
    assert summary["core"]["compiled"] == compiled().compiled, summary["core"]
    assert summary["trades"] > 0, summary
    with sqlite3.connect(tmp_path / "journal" / "paper.sqlite") as db:
        (orders,) = db.execute("SELECT COUNT(*) FROM orders WHERE state = 'final'").fetchone()
        (open_sagas,) = db.execute("SELECT COUNT(*) FROM sagas WHERE ending IS NULL").fetchone()
    assert orders >= 2 * summary["trades"]
    assert open_sagas == 0
    # every log of the run: the job's (driver and local venues), the head's session directory
    # (job driver, every worker process: the engine's actors)
    files = log_files(Path(head_temp))
    workers = [p for p in files if p.name.startswith("worker-") and p.suffix == ".err"]
    assert workers, files
    texts = [("job logs", logs), *((str(p), read(p)) for p in files)]
    assert leaks(paper_secrets(tmp_path), texts) == []
    sagas = [r for r in json_records(read(p) for p in workers)
             if r["logger"] == "arbiter.execution.executor"]
    assert len(sagas) >= 2 * summary["trades"], sagas[-5:]
    assert all(r["saga_id"] and r["tenant_id"] == "paper" and r["pair"] for r in sagas)
