"""The engine's actors on a local four-node Ray cluster, trading against both local venues.

One cluster and one engine per module (starting them is the expensive part): placement is
checked first, then every actor kind is killed mid-run and must come back, rebuild its state
and resume, with every order at the venues accounted for in the journal exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from arbiter.engine.actors import EngineHandles
from arbiter.engine.localcluster import LocalCluster, loopback_only, start_local_cluster
from arbiter.engine.placement import NODE_RESOURCE, Role, detect_layout
from arbiter.execution.journal import Journal
from tests.engine.ray_support import EngineSpec, Running, ray_session
from tests.engine.ray_support import until as _until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

NAMESPACE = "arbiter-test"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    local = start_local_cluster(4)
    try:
        # the nodes listen on 127.0.0.1 only; ray.init must keep that address (localcluster)
        with loopback_only(), ray_session(NAMESPACE, address=local.address):
            yield local
    finally:
        local.shutdown()


@pytest.fixture(scope="module")
def engine_spec(cluster: LocalCluster) -> EngineSpec:
    """The four-node cluster: every node class on its own node."""
    return EngineSpec(NAMESPACE, detect_layout(ray.cluster_resources()))


def _nodes_with(resource: str) -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get(resource)}


async def test_each_actor_kind_runs_on_its_node_class(engine: Running) -> None:
    h = engine.handles
    assert h.layout.dedicated
    placed = {
        Role.MONITOR: [await m.node_id.remote() for m in h.monitors.values()],
        Role.ARBITER: [await h.arbiter.node_id.remote()],
        Role.RISK: [await h.risk.node_id.remote()],
        Role.EXECUTOR: [await e.node_id.remote() for e in h.executors.values()],
    }
    for role, node_ids in placed.items():
        assert set(node_ids) <= _nodes_with(NODE_RESOURCE[role]), role
    # four node classes on four different nodes
    assert len({ids[0] for ids in placed.values()}) == 4


async def _sagas(h: EngineHandles) -> int:
    status = await h.arbiter.status.remote()
    return sum(status["sagas"].values())


async def test_actors_restart_rebuild_and_lose_no_order(engine: Running) -> None:
    h = engine.handles
    base = await _until(lambda: _sagas(h), 30, "the first sagas")
    recovery: dict[str, float] = {}
    warm = (await h.arbiter.status.remote())["warm"]  # the tick path is rehearsed (ADR 0067)
    assert warm["runs"] > 0 and warm["rehearsals"] == 1 and warm["failed"] == [], warm

    # -- monitor: killed through Ray, re-subscribes (fresh snapshots) and is synced again
    before = await h.monitors["kalshi"].health.remote()
    t = time.monotonic()
    ray.kill(h.monitors["kalshi"], no_restart=False)

    async def monitor_back() -> bool:
        health = await h.monitors["kalshi"].health.remote()
        return bool(health["pid"] != before["pid"] and health["synced"])

    await _until(monitor_back, 60, "the kalshi monitor")
    recovery["monitor"] = time.monotonic() - t

    # -- arbiter: SIGKILL of its process mid-run; the monitors keep ingesting meanwhile
    status = await h.arbiter.status.remote()
    events_before = (await h.monitors["polymarket"].health.remote())["events"]
    t = time.monotonic()
    os.kill(int(status["pid"]), signal.SIGKILL)

    async def arbiter_back() -> dict[str, Any] | None:
        s = await h.arbiter.status.remote()
        return s if s["pid"] != status["pid"] and s["ready"] else None

    restarted = await _until(arbiter_back, 90, "the arbiter")
    recovery["arbiter"] = time.monotonic() - t
    assert restarted["recovered"]["paper"]["errors"] == []
    events_during = (await h.monitors["polymarket"].health.remote())["events"]
    assert events_during > events_before
    # and it trades again
    await _until(lambda: _sagas(h), 30, "sagas after the arbiter restart")

    # -- risk manager and executor: killed through Ray, state rebuilt from arbiter / journal
    snap = await h.risk.snapshot.remote()
    t = time.monotonic()
    ray.kill(h.risk, no_restart=False)

    async def risk_back() -> bool:
        s = await h.risk.snapshot.remote()
        return bool(s["pid"] != snap["pid"] and s["pulls"] > 0 and s["tenants"])

    await _until(risk_back, 60, "the risk manager")
    recovery["risk"] = time.monotonic() - t

    executor = h.executors["paper"]
    summary = await executor.summary.remote()
    t = time.monotonic()
    ray.kill(executor, no_restart=False)

    async def executor_back() -> dict[str, Any] | None:
        s = await executor.summary.remote()
        return s if s["pid"] != summary["pid"] else None

    rebuilt = await _until(executor_back, 60, "the executor")
    recovery["executor"] = time.monotonic() - t
    assert rebuilt["orders"] >= summary["orders"]

    stopped = await h.arbiter.stop.remote()
    assert stopped["stopped"]
    print("\nrecovery seconds:", {k: round(v, 2) for k, v in recovery.items()}, "sagas before:", base)
    _assert_orders_accounted(engine)


def _assert_orders_accounted(engine: Running) -> None:
    """Every order at a venue is in the journal, once; every acknowledged one is at the venue."""
    journal = Journal(Path(engine.config.journal_path("paper")), synchronous="NORMAL")
    try:
        assert journal.unfinished() == []
        rows = journal.orders()
    finally:
        journal.close()
    assert len({r.cid for r in rows}) == len(rows)
    tenant = engine.config.tenants[0]
    kalshi = engine.venues.kalshi
    poly = engine.venues.polymarket
    assert kalshi is not None and poly is not None
    venue_cids = [o.client_order_id for o in kalshi.exchange.orders.values()
                  if o.account == tenant.kalshi_key_id]
    assert len(venue_cids) == len(set(venue_cids)), "a Kalshi order was sent twice"
    journal_kalshi = {r.cid: r for r in rows if r.venue == "kalshi"}
    assert set(venue_cids) <= set(journal_kalshi), "a Kalshi order is missing from the journal"
    for cid, row in journal_kalshi.items():
        if row.source in ("ack", "query"):
            assert cid in venue_cids
    address = engine.venues.polymarket_address
    venue_ids = [o.id for o in poly.exchange.orders.values() if o.maker == address]
    assert len(venue_ids) == len(set(venue_ids))
    journal_poly = {r.order_id for r in rows if r.venue == "polymarket" and r.order_id}
    assert set(venue_ids) == journal_poly, "Polymarket orders and journal disagree"
    assert venue_cids and venue_ids
