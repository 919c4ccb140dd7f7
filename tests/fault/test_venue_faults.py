"""Sagas against the real local venues (real clients, real signatures) under venue faults.

Each test ends with the same audit the chaos bench uses: the venues' own order tables must hold
exactly the orders the journal knows (one per step), and journal positions must equal venue
positions.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from arbiter.core.book import Outcome
from arbiter.core.detection import Opportunity
from arbiter.core.saga import Ending, Saga
from arbiter.core.units import Size
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.recovery import recover
from arbiter.venues.base import ExchangeClient
from tests.fault.executor_proc import POLICY
from tests.fault.harness import Venues, audit
from tests.fault.live import C, connect_clients, opportunity, quotes_from

pytestmark = pytest.mark.integration

CFG = ExecutorConfig(order_timeout_s=1.0, query_timeout_s=2.0, absent_grace_s=0.3,
                     resolve_backoff_s=0.01, resolve_timeout_s=20.0)


class Crash(BaseException):
    """The executor dying at a journal commit boundary (in-process stand-in for kill -9)."""


@pytest.fixture
async def venues(tmp_path: Path) -> AsyncIterator[Venues]:
    v = await Venues.start(tmp_path / "venues")
    try:
        yield v
    finally:
        await v.stop()


def shape(v: Venues, k_first: int, p_first: int) -> None:
    """Kalshi YES asks 0.40 x k_first then 0.41.., Polymarket NO asks 0.55 x p_first then 0.56."""
    v.cancel_makers()
    if k_first:
        v.kalshi_quote("ask", 4000, k_first * C)
    for p in (4100, 4200, 4300):
        v.kalshi_quote("ask", p, 40 * C)
    v.kalshi_quote("bid", 3800, 300 * C)
    no = v.pair.polymarket_no_token
    if p_first:
        v.poly_quote(no, "ask", 5500, p_first * C)
    v.poly_quote(no, "ask", 5600, 40 * C)
    v.poly_quote(no, "bid", 5300, 300 * C)


class Engine:
    def __init__(self, v: Venues, path: Path, clients: dict[str, ExchangeClient]) -> None:
        self.v = v
        self.journal = Journal(path)
        self.clients = clients

        async def quotes(venue: str, market: str, outcome: Outcome) -> tuple[int | None, int | None]:
            return await quotes_from(clients, venue, market, outcome)

        self.executor = SagaExecutor(self.journal, clients, {v.pair.name: v.pair}, policy=POLICY,
                                     config=CFG, quotes=quotes)

    async def close(self) -> None:
        for c in self.clients.values():
            await c.close()
        self.journal.close()


async def engine(v: Venues, tmp_path: Path) -> Engine:
    return Engine(v, tmp_path / "journal.db", await connect_clients(v.config()))


def opp(v: Venues, size: int = 10, k_price: int = 4000) -> Opportunity:
    """Kalshi YES at ``k_price`` + Polymarket NO at 0.55 for ``size`` contracts."""
    o = opportunity(v.pair, random.Random(0), 0)
    legs = (replace(o.legs[0], limit_price=k_price), o.legs[1])
    return replace(o, size=Size(size * C), legs=legs)


async def run_one(v: Venues, tmp_path: Path, **kw: int) -> Saga:
    e = await engine(v, tmp_path)
    try:
        result = await e.executor.submit(opp(v, **kw))
        assert result.saga is not None
        return result.saga
    finally:
        await e.close()


async def assert_clean(v: Venues, tmp_path: Path) -> None:
    a = await audit(v, tmp_path / "journal.db")
    assert (a.unresolved, a.duplicate_orders, a.unknown_positions) == (0, 0, 0), a.details


async def test_both_legs_fill_on_the_local_venues(venues: Venues, tmp_path: Path) -> None:
    shape(venues, 30, 30)
    saga = await run_one(venues, tmp_path)
    assert saga.ending is Ending.COMPLETED, saga.describe()
    l2 = saga.orders["L2"].final
    assert l2 is not None and l2.filled == 10 * C and l2.fees > 0  # Kalshi charged its taker fee
    await assert_clean(venues, tmp_path)


async def test_partial_fill_of_leg2_is_hedged(venues: Venues, tmp_path: Path) -> None:
    shape(venues, 4, 30)
    saga = await run_one(venues, tmp_path)
    assert saga.ending is Ending.HEDGED, saga.describe()
    c1 = saga.orders["C1"]
    assert c1.intent.size == 6 * C and c1.final is not None and c1.final.filled == 6 * C
    await assert_clean(venues, tmp_path)


async def test_rejected_leg2_is_hedged_and_the_reason_journaled(venues: Venues, tmp_path: Path) -> None:
    shape(venues, 30, 30)
    saga = await run_one(venues, tmp_path, k_price=4050)  # off the Kalshi cent grid
    l2 = saga.orders["L2"].final
    assert l2 is not None and l2.source == "rejected" and "price" in l2.detail
    assert saga.ending is Ending.HEDGED, saga.describe()
    await assert_clean(venues, tmp_path)


async def test_missing_complement_is_unwound_on_the_first_venue(venues: Venues, tmp_path: Path) -> None:
    shape(venues, 0, 30)
    venues.cancel_makers()
    no = venues.pair.polymarket_no_token
    venues.poly_quote(no, "ask", 5500, 30 * C)
    venues.poly_quote(no, "bid", 5300, 300 * C)
    saga = await run_one(venues, tmp_path)
    assert saga.ending is Ending.UNWOUND, saga.describe()
    u1 = saga.orders["U1"]
    assert u1.intent.venue == "polymarket" and u1.intent.action == "sell"
    assert saga.finished is not None and saga.finished.pnl == -200 * 10 * C
    await assert_clean(venues, tmp_path)


async def test_lost_polymarket_response_is_resolved_by_lookup(venues: Venues, tmp_path: Path) -> None:
    shape(venues, 30, 30)
    venues.poly_sim.lose_order_responses = 1  # leg 1 is applied, its answer is a 5xx
    saga = await run_one(venues, tmp_path)
    assert saga.ending is Ending.COMPLETED, saga.describe()
    await assert_clean(venues, tmp_path)


async def test_kalshi_5xx_after_apply_never_doubles_the_order(venues: Venues, tmp_path: Path) -> None:
    shape(venues, 30, 30)
    venues.kalshi_sim.faults.update({"http_burst": [503, 1], "http_burst_methods": ["POST"]})
    venues.kalshi_sim.faults.http_burst_after = True
    saga = await run_one(venues, tmp_path)
    assert saga.ending is Ending.COMPLETED, saga.describe()
    await assert_clean(venues, tmp_path)


async def test_timeout_leaves_no_duplicate_whatever_the_venue_did(venues: Venues, tmp_path: Path) -> None:
    """The venue answers after our timeout: unknown outcome, resolved by query or declared
    absent after the grace period, never resent under a new id."""
    shape(venues, 30, 30)
    e = await engine(venues, tmp_path)

    async def heal() -> None:
        await asyncio.sleep(1.2)
        venues.poly_sim.faults.latency_ms = 0

    venues.poly_sim.faults.latency_ms = 1500  # leg 1's POST outlives the 1 s order timeout
    healer = asyncio.create_task(heal())
    try:
        result = await e.executor.submit(opp(venues))
        await healer
        saga = result.saga
        assert saga is not None and saga.terminal
        l1 = saga.orders["L1"]
        assert l1.errors and l1.final is not None and l1.final.source in ("query", "absent")
    finally:
        await e.close()
    await assert_clean(venues, tmp_path)


@pytest.mark.parametrize("crash_write", [1, 2, 4])
async def test_restart_with_fresh_clients_finds_orders_sent_before_the_crash(
    venues: Venues, tmp_path: Path, crash_write: int
) -> None:
    """Die before the answer to an order is journaled (write 2 = leg 1's answer, 4 = leg 2's;
    write 1 = the saga start and leg 1's intent, before anything was sent); a new process with
    new clients must find the order at the venue, not call it absent."""
    shape(venues, 30, 30)
    e = await engine(venues, tmp_path)

    def die(n: int) -> None:
        if n == crash_write:
            raise Crash(n)

    e.journal.before_commit = die
    with pytest.raises(Crash):
        await e.executor.submit(opp(venues))
    await e.close()
    e2 = await engine(venues, tmp_path)
    try:
        report = await recover(e2.executor)
        if crash_write == 1:  # the start never became durable, so leg 1 was never sent
            assert report.sagas == 0 and e2.journal.saga_ids() == [] and not report.errors
        else:
            assert report.sagas == 1 and not report.errors
            (sid,) = e2.journal.saga_ids()
            saga = e2.journal.load(sid)
            assert saga.ending is Ending.COMPLETED, saga.describe()
            sources = [o.final.source for o in saga.orders.values() if o.final is not None]
            assert "absent" not in sources and "query" in sources
    finally:
        await e2.close()
    await assert_clean(venues, tmp_path)
