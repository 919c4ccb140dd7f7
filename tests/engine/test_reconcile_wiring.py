"""Reconciliation in the running engine (ADR 0140), in process against both local venues.

The :class:`~arbiter.engine.arbiter.Arbiter` is the real one (as Ray runs it, minus Ray): it
boots against the local venues, recovers, reconciles and trades. Orders and fills are then
injected at the local Kalshi with the tenant's own key, as a person trading by hand on the
engine's account would: the journal does not know them, the next round says so, the tenant's new
sagas are refused by name, the metric and the alert say why; undone, a later round is clean and
the tenant trades again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import generate_latest

from arbiter.app.build import kalshi_config, kalshi_signer
from arbiter.app.config import load_config
from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size
from arbiter.engine import arbiter as actors
from arbiter.engine.arbiter import Arbiter
from arbiter.execution.operator import OperatorState
from arbiter.execution.reconcile import MISMATCH, ReconcileJob, ReconcileReport
from arbiter.sim.launcher import LocalVenues
from arbiter.venues.base import Action, OrderRequest, TimeInForce
from arbiter.venues.kalshi.rest import KalshiRestClient

pytestmark = [pytest.mark.integration]


async def until(probe: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest_asyncio.fixture
async def engine(venues: LocalVenues, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Arbiter]:
    """The arbiter, booted in this process; the latency tuning (gc freeze, priorities) is for
    the engine's own process, not pytest's."""
    monkeypatch.setattr(actors, "tune_for_latency", lambda *a, **k: None)
    config = load_config(venues.config_path).with_overrides(warm_us=0, reconcile_s=3600.0)
    arb = Arbiter(config)
    try:
        await until(lambda: arb.ready_ns is not None or arb.error, 30, "the arbiter to boot")
        assert arb.error is None, arb.error
        yield arb
    finally:
        await arb.stop()
        if arb.metrics_server is not None:
            arb.metrics_server.close()
        arb._metrics_task.cancel()


async def conclusive(arb: Arbiter, tenant: str = "paper") -> dict[str, Any]:
    """A round that no saga overlapped (the engine keeps trading meanwhile).

    Asked at most every half second: each round reads both venues through the tenant's rate
    limiter, and asking in a tight loop would empty its read budget (the rounds then report
    ``reconcile_unknown`` and never come back clean)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = await arb.reconcile(tenant)
        if out["conclusive"]:  # this round, begun after the call (not one already running)
            return out
        await asyncio.sleep(0.5)
    raise AssertionError("timed out waiting for a conclusive reconciliation round")


def gauge(arb: Arbiter, venue: str) -> float:
    for line in generate_latest(arb.metrics.registry).decode().splitlines():
        if line.startswith(f'arbiter_reconciliation_mismatches{{tenant="paper",venue="{venue}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no mismatch gauge for {venue}")


def hand_client(arb: Arbiter) -> KalshiRestClient:
    tenant = arb.config.tenants[0]
    return KalshiRestClient(kalshi_config(arb.config, tenant), kalshi_signer(tenant))


async def test_after_recovery_the_tenant_is_reconciled_and_clean(engine: Arbiter) -> None:
    summary = (await engine.status())["reconciliation"]["paper"]
    assert summary["runs"] >= 1 and summary["blocking"] is None, summary  # ran in _boot
    print(f"reconciliation round: {summary['last_ms']:.1f} ms")
    assert gauge(engine, "kalshi") == 0 and gauge(engine, "polymarket") == 0


@pytest.mark.slow  # ~4.5 s: waits for the market to open a window the block refuses, then trades
async def test_an_order_the_journal_does_not_know_blocks_the_tenant_until_it_is_gone(
    engine: Arbiter,
) -> None:
    pair = engine.config.pairs[0]
    async with hand_client(engine) as hand:
        ack = await hand.place_order(OrderRequest(
            pair.kalshi_ticker, Outcome.YES, Action.BUY, Price(100), Size(1_000_000),
            "by-hand-1", TimeInForce.GTC))  # rests at $0.01: far below the market
        out = await conclusive(engine)
        assert out["blocking"] == MISMATCH
        assert out["differences"] == [f"kalshi:{pair.kalshi_ticker} unknown order {ack.order_id} "
                                      "size 1000000"]
        assert engine._blocked("paper", pair.name) == MISMATCH
        assert gauge(engine, "kalshi") == 1 and gauge(engine, "polymarket") == 0
        assert any(a["kind"] == "reconciliation" and ack.order_id in a["detail"]
                   for a in engine._alerts)
        # the tick path refuses the tenant's opportunities by that name while it lasts
        await until(lambda: engine.tick.stats.refused[MISMATCH] > 0, 30,
                    "an opportunity refused for the mismatch")
        assert [k for _, k, _ in engine.tenants["paper"].journal.logs("reconcile_mismatch")]
        await hand.cancel_order(ack.order_id)
        out = await conclusive(engine)
    assert out["blocking"] is None and out["differences"] == []
    assert engine._blocked("paper", pair.name) is None
    assert gauge(engine, "kalshi") == 0
    assert any("clean again" in a["detail"] for a in engine._alerts)
    sagas = sum(engine.tick.stats.sagas.values())
    await until(lambda: sum(engine.tick.stats.sagas.values()) > sagas, 30, "trading again")


async def test_a_fill_the_journal_does_not_know_blocks_until_the_position_is_undone(
    engine: Arbiter,
) -> None:
    pair = engine.config.pairs[0]
    job = engine.reconcilers["paper"]
    job.fills_margin_s = 0.0  # (the default keeps reporting an unknown fill for a minute)
    async with hand_client(engine) as hand:
        bought = await hand.place_order(OrderRequest(
            pair.kalshi_ticker, Outcome.YES, Action.BUY, Price(9900), Size(1_000_000),
            "by-hand-buy", TimeInForce.IOC))  # crosses the book: one contract bought
        assert bought.filled == 1_000_000
        out = await conclusive(engine)
        assert out["blocking"] == MISMATCH
        kinds = {d.kind for d in job.last.differences} if job.last is not None else set()
        assert kinds == {"position", "fill"}, out
        assert engine._blocked("paper", pair.name) == MISMATCH
        sold = await hand.place_order(OrderRequest(
            pair.kalshi_ticker, Outcome.YES, Action.SELL, Price(100), Size(1_000_000),
            "by-hand-sell", TimeInForce.IOC))  # undone by hand
        assert sold.filled == 1_000_000
        async def clean() -> bool:
            if (await conclusive(engine))["blocking"] is None:
                return True
            await asyncio.sleep(0.5)  # pace the rounds: each spends the tenant's read budget
            return False
        await until(clean, 20, "a clean round once the position is undone")
    assert engine._blocked("paper", pair.name) is None and gauge(engine, "kalshi") == 0


def test_a_mismatch_blocks_only_its_tenant() -> None:
    """Two tenants' jobs: the one with a finding is refused, the other is not."""
    from arbiter.execution.reconcile import Difference

    arb = Arbiter.__new__(Arbiter)
    arb._ops = {"a": OperatorState(), "b": OperatorState()}
    arb.reconcilers = {}
    for name in ("a", "b"):
        arb.reconcilers[name] = ReconcileJob(None, {})  # type: ignore[arg-type]
    arb.reconcilers["a"].blocking = MISMATCH
    assert arb._blocked("a", "p") == MISMATCH and arb._blocked("b", "p") is None
    assert ReconcileReport(1, [Difference("kalshi", "K", 0, 1, "order", "o1")]).clean is False


async def test_a_key_revoked_at_a_venue_is_found_by_the_next_round(
        engine: Arbiter, venues: LocalVenues) -> None:
    """The tenant's Kalshi key revoked at the venue: the next round cannot read Kalshi (401),
    which blocks the tenant as unknown, and says the venue refused the credentials: the tenant
    is benched and alerted for them before any order had to meet the refusal."""
    assert venues.kalshi is not None
    key_id = venues.accounts[venues.tenants[0]][0]
    venues.kalshi.exchange.accounts[key_id].public_key = None
    out = await conclusive(engine)
    assert out["blocking"] is not None, out
    assert engine.launcher.bench.benched("paper", time.time_ns()) == "credentials"
    assert any(a["tenant"] == "paper" and a["kind"] == "credentials"
               and "reconciliation" in a["detail"] for a in engine._alerts), engine._alerts
