"""The live Ray engine seen by operations: its Prometheus endpoint and the gRPC control plane.

One single-node Ray and one paper engine per module: starting them is the expensive part.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families

from arbiter.app.build import kalshi_config, kalshi_signer
from arbiter.cli.main import main
from arbiter.control.auth import Key, KeySet, Role
from arbiter.control.client import ControlError, RemoteEngine
from arbiter.control.engine import UnknownTenant
from arbiter.control.ray_engine import RayEngineControl
from arbiter.control.service import build_server
from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size
from arbiter.engine.placement import Layout
from arbiter.venues.base import Action, OrderRequest, TimeInForce
from arbiter.venues.kalshi.rest import KalshiRestClient
from tests.engine.ray_support import EngineSpec, Running, ray_session
from tests.engine.ray_support import until as _until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

NAMESPACE = "arbiter-ops-test"


@pytest.fixture(scope="module")
def engine_spec() -> Iterator[EngineSpec]:
    """One single-node Ray; the engine serves metrics on a free port."""
    with ray_session(NAMESPACE, address="local", num_cpus=2, include_dashboard=False):
        yield EngineSpec(NAMESPACE, Layout(dedicated=False), {"metrics_port": 0})


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


async def test_arbiter_serves_prometheus_metrics(engine: Running) -> None:
    status = await engine.handles.arbiter.status.remote()
    port = status["metrics_port"]
    assert isinstance(port, int) and port > 0

    async def traded() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = await asyncio.to_thread(_scrape, port)
        gauges_exported = ("arbiter_kill_switch", (("tenant", "paper"),)) in samples
        return samples if gauges_exported and _total(samples, "arbiter_sagas_total") > 0 else None

    samples = await _until(traded, 40, "sagas on the metrics endpoint")
    assert _total(samples, "arbiter_ticks_total", venue="kalshi") > 0
    assert _total(samples, "arbiter_ticks_total", venue="polymarket") > 0
    assert _total(samples, "arbiter_book_updates_total") > 0
    assert _total(samples, "arbiter_opportunities_total", tenant="paper") > 0
    assert _total(samples, "arbiter_tick_to_order_seconds_count") > 0
    assert samples[("arbiter_kill_switch", (("tenant", "paper"),))] == 0
    assert ("arbiter_open_sagas", (("tenant", "paper"),)) in samples


async def test_control_plane_operates_the_ray_engine(engine: Running) -> None:
    arbiter = engine.handles.arbiter
    control = await RayEngineControl.connect(NAMESPACE, poll_s=0.1)
    assert control.tenants() == ["paper"]
    keys = KeySet()
    keys.add(Key.hmac("k1", "ray-control-test-secret-32-bytes!!"))
    server = await build_server(control, keys)
    target = f"127.0.0.1:{server.port}"
    viewer = RemoteEngine(target, keys.issue("t", "paper", Role.VIEWER, 300, int(time.time())))
    operator = RemoteEngine(target, keys.issue("t", "paper", Role.OPERATOR, 300, int(time.time())))
    try:
        status = await viewer.status(None)
        (row,) = status.tenants
        assert status.engine == "ray" and row.tenant == "paper" and row.running
        assert row.kill_reason is None and set(status.pairs) == {p.name for p in engine.config.pairs}
        with pytest.raises(ControlError, match="PERMISSION_DENIED"):
            await viewer.trip_kill_switch("paper", "viewers may not")
        with pytest.raises(UnknownTenant):
            await control.status("nobody")

        pair = status.pairs[0]
        assert (await operator.pause("paper", pair)).changed
        assert (await viewer.status(None)).tenants[0].paused_pairs == (pair,)
        assert (await operator.resume("paper", None)).changed
        assert (await operator.risk_limits("paper")).max_open_sagas == engine.config.limits.max_open_sagas
        await _until(lambda: _saga_count(arbiter), 30, "sagas before the kill switch")

        assert (await operator.trip_kill_switch("paper", "test stop")).changed
        (row,) = (await viewer.status(None)).tenants
        assert row.kill_reason == "test stop"
        assert [a.kind for a in await viewer.alerts(None)] == ["kill_switch"]

        async def quiet() -> dict[str, Any] | None:  # sagas in flight at the trip finish on their own
            s: dict[str, Any] = await arbiter.status.remote()
            settled = sum(s["sagas"].values()) + sum(s["refused"].values())
            return s if s["admitted"] == settled else None

        settled = await _until(quiet, 30, "in-flight sagas to finish")
        sagas = sum(settled["sagas"].values())
        refused = settled["refused"].get("kill_switch", 0)

        async def refused_more() -> bool:  # opportunities keep coming and are all refused
            s = await arbiter.status.remote()
            return bool(s["refused"].get("kill_switch", 0) >= refused + 3)

        await _until(refused_more, 30, "opportunities refused by the kill switch")
        assert await _saga_count(arbiter) == sagas
        port = (await arbiter.status.remote())["metrics_port"]

        async def gauge_on() -> bool:
            samples = await asyncio.to_thread(_scrape, port)
            return samples.get(("arbiter_kill_switch", (("tenant", "paper"),))) == 1

        await _until(gauge_on, 10, "the kill switch gauge")
    finally:
        await viewer.close()
        await operator.close()
        await server.stop(0)


async def _saga_count(arbiter: Any) -> int:
    status = await arbiter.status.remote()
    return sum(status["sagas"].values())


async def test_cli_serves_the_ray_engine(engine: Running, tmp_path: Path) -> None:
    keys_path = tmp_path / "keys.json"
    assert main(["control", "keygen", "--keys", str(keys_path), "--kid", "k1"]) == 0
    assert main(["control", "serve", "--keys", str(keys_path), "--ray-address", "auto",
                 "--tenant", "paper"]) == 2  # tenants come from the engine
    address = ray.get_runtime_context().gcs_address
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbiter.cli.main", "control", "serve", "--keys", str(keys_path),
         "--ray-address", address, "--namespace", NAMESPACE, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.to_thread(proc.stdout.readline)).strip()
        assert line.startswith("control API on "), (line, proc.stderr.read() if proc.stderr else "")
        keys = KeySet.load(keys_path)
        rc = RemoteEngine(line.split()[3], keys.issue("t", "paper", Role.VIEWER, 300, int(time.time())))
        try:
            status = await rc.status(None)
            assert status.engine == "ray" and [t.tenant for t in status.tenants] == ["paper"]
        finally:
            await rc.close()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_reconciliation_blocks_and_operator_state_survives_a_restart(engine: Running) -> None:
    """Issue 20 on Ray: an order placed by hand at the local Kalshi is found by the arbiter's
    reconciliation (metric, refusal), gone it is clean again; the operator's pause and the kill
    switch are as they were after the arbiter's process is SIGKILLed and Ray restarts it."""
    arbiter = engine.handles.arbiter
    tenant, pair = engine.config.tenants[0], engine.config.pairs[0]
    port = (await arbiter.status.remote())["metrics_port"]

    def mismatches() -> float | None:
        return _scrape(port).get(("arbiter_reconciliation_mismatches",
                                  (("tenant", "paper"), ("venue", "kalshi"))))

    async def round_with(blocking: str | None) -> dict[str, Any] | None:
        out: dict[str, Any] = await arbiter.reconcile.remote("paper")
        if out["blocking"] == blocking:
            return out
        await asyncio.sleep(0.4)  # each round spends the tenant's read budget: pace them
        return None

    async with KalshiRestClient(kalshi_config(engine.config, tenant), kalshi_signer(tenant)) as hand:
        ack = await hand.place_order(OrderRequest(
            pair.kalshi_ticker, Outcome.YES, Action.BUY, Price(100), Size(1_000_000), "by-hand",
            TimeInForce.GTC))
        out = await _until(lambda: round_with("reconcile_mismatch"), 20, "the mismatch")
        assert any(ack.order_id in d for d in out["differences"])
        assert await asyncio.to_thread(mismatches) == 1
        await hand.cancel_order(ack.order_id)
        await _until(lambda: round_with(None), 20, "a clean round")
    assert await asyncio.to_thread(mismatches) == 0

    assert (await arbiter.control.remote("pause", "paper", pair.name))[0]
    await arbiter.trip.remote("paper", "before the restart")  # (or still on from the test above)
    (before,) = await arbiter.control_status.remote("paper")
    status = await arbiter.status.remote()
    os.kill(int(status["pid"]), signal.SIGKILL)

    async def back() -> dict[str, Any] | None:
        s: dict[str, Any] = await arbiter.status.remote()
        return s if s["pid"] != status["pid"] and s["ready"] else None

    await _until(back, 90, "the arbiter restarted")
    (after,) = await arbiter.control_status.remote("paper")
    assert after["paused_pairs"] == [pair.name] and after["killed"] == before["killed"] is not None
    assert (await arbiter.status.remote())["reconciliation"]["paper"]["runs"] >= 1  # after recovery
    assert await arbiter.reset.remote("paper")
    assert (await arbiter.control.remote("resume", "paper", None))[0]
