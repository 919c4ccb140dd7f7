"""End to end on the real execution layer: executor + risk manager + journal under the control plane.

Venues are the execution tests' in-process fake venues (core matching engine). An operator watches
the saga stream over gRPC, sees the trade happen live, trips the kill switch over gRPC (through the
risk manager), and the next opportunity is held back. Metrics and the trace record all of it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from arbiter.control.auth import Key, KeySet, Role
from arbiter.control.client import RemoteEngine
from arbiter.control.engine import InProcessEngine, SagaUpdate, TenantHooks
from arbiter.control.service import build_server
from arbiter.control.wiring import ObservedJournal, OperatedTenant
from arbiter.core.book import Outcome
from arbiter.core.fees import KalshiFeeModel
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.risk_manager import RiskManager
from arbiter.telemetry.metrics import Metrics
from arbiter.telemetry.tracing import SagaTracer
from tests.execution.factories import PAIR, C, opportunity
from tests.execution.fakes import FakeVenue

FAST = ExecutorConfig(
    order_timeout_s=0.5,
    query_timeout_s=0.5,
    absent_grace_s=0.05,
    resolve_backoff_s=0.005,
    resolve_timeout_s=5.0,
)


async def test_trade_watch_and_kill_over_grpc(tmp_path: Path) -> None:
    kalshi = FakeVenue("kalshi", fee=KalshiFeeModel())
    poly = FakeVenue("polymarket")
    kalshi.add_liquidity(PAIR.kalshi_ticker, Outcome.YES, "ask", 4000, 10 * C)
    poly.add_liquidity(PAIR.polymarket_no_token, Outcome.NO, "ask", 5500, 10 * C)
    clients: dict[str, Any] = {"kalshi": kalshi, "polymarket": poly}
    journal = ObservedJournal(tmp_path / "journal.db")
    book = RiskBook(RiskLimits())
    rm = RiskManager(book, clients, {PAIR.name: PAIR}, journal)
    await rm.refresh_balances()
    executor = SagaExecutor(journal, clients, {PAIR.name: PAIR}, risk=rm, config=FAST)
    metrics = Metrics()
    engine = InProcessEngine([], [PAIR.name], metrics=metrics)
    engine.add_tenant(
        "acme", risk=book, positions=executor.positions, hooks=TenantHooks(kill=rm.kill, reset=rm.reset)
    )
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    operated = OperatedTenant("acme", engine, executor, SagaTracer(provider))

    keys = KeySet()
    keys.add(Key.hmac("k1", "operated-tenant-test-secret-32bytes"))
    server = await build_server(engine, keys)
    remote = RemoteEngine(
        f"127.0.0.1:{server.port}", keys.issue("op", "acme", Role.OPERATOR, 300, int(time.time()))
    )
    try:
        seen: list[SagaUpdate] = []

        async def watch() -> None:
            async for update in remote.sagas(None):
                seen.append(update)
                if update.kind == "finished":
                    return

        watcher = asyncio.create_task(watch())
        while engine.saga_feed.subscribers == 0:
            await asyncio.sleep(0.01)

        result = await operated.handle(opportunity())
        assert result is not None and result.saga is not None
        await asyncio.wait_for(watcher, 10)
        assert [u.kind for u in seen] == ["started", "intent", "final", "intent", "final", "finished"]
        assert seen[-1].state == "done" and seen[-1].detail.startswith("completed")
        # positions the operator sees are the executor's own
        (pos_k, pos_p) = sorted((p for _, p in await remote.positions(None)), key=lambda p: p.venue)
        assert (pos_k.venue, pos_k.size, pos_p.venue, pos_p.size) == ("kalshi", 10 * C, "polymarket", 10 * C)

        # the operator trips the kill switch remotely; it goes through the risk manager
        assert (await remote.trip_kill_switch(None, "operator: venue incident")).changed
        assert book.killed == "operator: venue incident"
        assert [k for _, k, _ in journal.logs("kill_switch")] == ["kill_switch"]
        assert await operated.handle(opportunity(ts_ns=2_000)) is None
        assert operated.skipped == 1
        status = (await remote.status(None)).tenants[0]
        assert status.kill_reason == "operator: venue incident" and status.open_sagas == 0

        text = generate_latest(metrics.registry).decode()
        assert f'arbiter_opportunities_total{{pair="{PAIR.name}",tenant="acme"}} 2.0' in text
        assert f'arbiter_sagas_total{{outcome="completed",pair="{PAIR.name}",tenant="acme"}} 1.0' in text

        names = sorted(s.name for s in spans.get_finished_spans())
        assert names == ["leg1", "leg2", f"opportunity {PAIR.name}", "risk.check"]
        assert len({s.context.trace_id for s in spans.get_finished_spans()}) == 1
    finally:
        await remote.close()
        await server.stop(0)
        journal.close()
        await kalshi.close()
        await poly.close()


async def test_risk_rejection_is_counted_and_traced(tmp_path: Path) -> None:
    kalshi, poly = FakeVenue("kalshi"), FakeVenue("polymarket")
    clients: dict[str, Any] = {"kalshi": kalshi, "polymarket": poly}
    journal = ObservedJournal(tmp_path / "j.db")
    book = RiskBook(RiskLimits(max_pair_contracts=5 * C))
    rm = RiskManager(book, clients, {PAIR.name: PAIR}, journal)
    await rm.refresh_balances()
    executor = SagaExecutor(journal, clients, {PAIR.name: PAIR}, risk=rm, config=FAST)
    metrics = Metrics()
    engine = InProcessEngine([], [PAIR.name], metrics=metrics)
    engine.add_tenant("acme", risk=book, positions=executor.positions)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    try:
        result = await OperatedTenant("acme", engine, executor, SagaTracer(provider)).handle(opportunity())
        assert result is not None and result.saga is None and result.risk is not None
        text = generate_latest(metrics.registry).decode()
        assert 'arbiter_risk_rejections_total{reason="pair_limit",tenant="acme"} 1.0' in text
        risk = next(s for s in spans.get_finished_spans() if s.name == "risk.check")
        assert risk.attributes is not None and risk.attributes["arbiter.reason"] == "pair_limit"
    finally:
        journal.close()
        await kalshi.close()
        await poly.close()
