"""The running engine's saga traces, exported by OTLP from its Ray actor to a receiver here.

``arbiter run --paper`` runs as the real command in a subprocess, with the standard ``OTEL_*``
variables pointing at an OTLP/gRPC receiver in this process; its own Ray lives in a temp dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

from tests.jobs.log_audit import json_records, log_files, read
from tests.telemetry.otlp_receiver import ReceivedSpan, otlp_receiver

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_engine_exports_one_trace_per_saga_from_its_arbiter_actor(tmp_path: Path) -> None:
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    with otlp_receiver() as (receiver, port):
        env = {**os.environ, "RAY_TMPDIR": str(ray_tmp),
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
               "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_SERVICE_NAME": "arbiter-test"}
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "arbiter", "run", "--paper", "--duration", "8",
                 "--workdir", str(tmp_path / "run")],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
            records = list(json_records(read(p) for p in log_files(ray_tmp)
                                        if p.name.startswith("worker-")))
        finally:
            shutil.rmtree(ray_tmp, ignore_errors=True)
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
        spans = receiver.snapshot()
    traces: dict[str, list[ReceivedSpan]] = defaultdict(list)
    for s in spans:
        traces[s.trace_id].append(s)
    sagas = [t for t in traces.values() if any(s.name in ("leg1",) for s in t)]
    assert sagas, [s.name for s in spans][:20]
    pids = {s.pid for s in spans}
    assert len(pids) == 1 and os.getpid() not in pids and proc.returncode == 0  # the actor's
    outcomes: dict[str, int] = defaultdict(int)
    for t in sagas:
        by_name = {s.name: s for s in t}
        (root,) = [s for s in t if s.name.startswith("opportunity ")]
        assert root.parent_id == "" and root.attributes["arbiter.saga_id"]
        outcomes[str(root.attributes["arbiter.outcome"])] += 1
        # a leg 1 that did not fill ends the saga (no_fill): no leg 2
        legs = ("risk.check", "leg1") if root.attributes["arbiter.outcome"] == "no_fill" \
            else ("risk.check", "leg1", "leg2")
        for name in legs:
            assert by_name[name].parent_id == root.span_id, (name, t)
        for s in t:
            if s.name.startswith("hedge."):
                assert s.parent_id == by_name["hedge"].span_id
    assert outcomes["completed"] + outcomes["hedged"] > 0, outcomes
    # the saga's log records name its trace: logs and traces join on trace_id
    logged = {r["trace_id"]: r["saga_id"] for r in records
              if r["logger"] == "arbiter.execution.executor" and "trace_id" in r}
    for t in sagas:
        (root,) = [s for s in t if s.name.startswith("opportunity ")]
        assert logged.get(root.trace_id) == root.attributes["arbiter.saga_id"]
