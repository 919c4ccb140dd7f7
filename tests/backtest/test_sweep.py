"""Sweeps on Ray: tasks over shared data locally, and jobs/sweep.py through `ray job submit`.

One Ray head per module, started by the test with `ray start --head --block` on free ports in its
own session and temp dir, and stopped by signalling that process group only (never `ray stop`,
which would take down every other Ray instance on the machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from arbiter.backtest.replay import BacktestParams, Replayer
from arbiter.backtest.sweep import grid, random_points, ranked, run_sweep
from arbiter.backtest.synthetic import SyntheticConfig, generate, make_pairs

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # a local Ray cluster

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
SPEC = "events=20000,pairs=3,days=1,seed=9"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head() -> Iterator[tuple[str, str]]:
    gcs, dash = free_port(), free_port()
    temp = tempfile.mkdtemp(prefix="rbt", dir="/tmp")
    cmd = [
        str(RAY), "start", "--head", "--block", "--include-dashboard=true",
        "--node-ip-address=127.0.0.1", f"--port={gcs}", f"--dashboard-port={dash}",
        "--dashboard-host=127.0.0.1", f"--ray-client-server-port={free_port()}",
        f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
        "--min-worker-port=0", "--max-worker-port=0", "--num-cpus=2", f"--temp-dir={temp}",
        "--disable-usage-stats",
    ]
    log = open(Path(temp) / "ray-start.log", "w")  # noqa: SIM115 - closed in teardown
    # token auth on, with the suite's own token (tests/conftest.py, ADR 0166): the head, its
    # workers and every client in this process read the same RAY_AUTH_MODE/RAY_AUTH_TOKEN_PATH
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "RAY_ADDRESS": ""})
    address, dashboard = f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dash}"
    try:
        from ray.job_submission import JobSubmissionClient

        deadline = time.monotonic() + 90
        while True:
            try:
                JobSubmissionClient(dashboard).list_jobs()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((Path(temp) / "ray-start.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield address, dashboard
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of our head's group is still there
        proc.wait()
        log.close()


def test_grid_and_random_points_are_stable() -> None:
    space = {"min_edge": [100, 200], "leg_order": ["poly_first", "kalshi_first"]}
    points = grid(space)
    assert points[0] == {"leg_order": "poly_first", "min_edge": 100} and len(points) == 4
    assert random_points(space, 2, seed=1) == random_points(space, 2, seed=1)
    assert len(random_points(space, 9)) == 4


def test_sweep_tasks_share_data_and_match_local_replays(ray_head: tuple[str, str],
                                                         tmp_path: Path) -> None:
    import ray

    ray.init(address=ray_head[0], log_to_driver=False)
    cfg = SyntheticConfig(pairs=3, days=1, events=20_000, seed=9)
    events, pairs = generate(cfg), make_pairs(3)
    points = grid({"min_edge": [100, 300], "latency_polymarket": ["fixed:10", "fixed:2000"]})
    seen: list[int] = []
    rows = run_sweep(pairs, events, points, {"seed": 2},
                     progress=lambda done, total, row: seen.append(done))
    assert seen == [1, 2, 3, 4]
    assert [{k: r[k] for k in ("latency_polymarket", "min_edge")} for r in rows] == points
    local = Replayer(pairs, events, BacktestParams.from_dict({**points[1], "seed": 2})).run()
    assert rows[1]["digest"] == local.digest()  # a Ray worker replays byte-identically
    best = ranked(rows)
    assert best[0]["pnl_money"] >= best[-1]["pnl_money"]
    ray.shutdown()


def test_sweep_job_through_ray_job_submit(ray_head: tuple[str, str], tmp_path: Path) -> None:
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(ray_head[1])
    out = tmp_path / "sweep"
    job = client.submit_job(
        entrypoint=(f"{sys.executable} {REPO / 'jobs' / 'sweep.py'} --synthetic {SPEC} "
                    f"--grid min_edge=100,250 --grid leg_order=poly_first,kalshi_first "
                    f"--param seed=1 --out {out}"),
        runtime_env={"env_vars": {"PYTHONUNBUFFERED": "1"}},
    )
    deadline = time.monotonic() + 150
    status = client.get_job_status(job)
    while status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        assert time.monotonic() < deadline, client.get_job_logs(job)[-2000:]
        time.sleep(1)
        status = client.get_job_status(job)
    logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
    assert "sweep: 4/4 done" in logs and "sweep: 1/4 done" in logs
    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == 4
    assert set(table.column("min_edge").to_pylist()) == {100, 250}
    assert (out / "sweep.html").read_text().count("<svg") == 1
    assert (out / "best.json").exists()
