"""The saga executor against the local Polymarket's delayed markets (``seconds_delay``).

A marketable Polymarket leg answered ``delayed`` is pending, not dead: the executor waits for
its outcome (user channel, then REST) and only then completes or hedges; it never cancels the
held order or hedges around it while the venue may still fill it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from arbiter.core.book import Outcome
from arbiter.core.fees import KalshiFeeModel
from arbiter.core.saga import Ending, SagaPolicy
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.sim.common import ScenarioMarket, ScenarioSpec
from arbiter.sim.polymarket.exchange import Exchange, SimMarket
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from tests.execution.factories import PAIR, C, opportunity
from tests.execution.fakes import FakeVenue
from tests.sim.polymarket.conftest import KEY_A, funded_exchange, place_raw

pytestmark = pytest.mark.integration

K = PAIR.kalshi_ticker
DELAY_MS = 300
CFG = ExecutorConfig(order_timeout_s=1.0, query_timeout_s=1.0, absent_grace_s=0.5,
                     resolve_backoff_s=0.01, resolve_timeout_s=10.0, pending_wait_s=0.5)


@dataclass
class DelayedWorld:
    exchange: Exchange
    market: SimMarket
    sim: PolymarketSim
    poly: PolymarketClient
    kalshi: FakeVenue
    routes: list[tuple[str, str]]

    def executor(self, journal: Journal, **kw: object) -> SagaExecutor:
        async def quotes(venue: str, market: str, outcome: Outcome) -> tuple[int | None, int | None]:
            if venue == "kalshi":
                return self.kalshi.best(market, outcome)
            return self.market.top(market)

        return SagaExecutor(journal, {"kalshi": self.kalshi, "polymarket": self.poly},
                            {PAIR.name: PAIR}, quotes=quotes, config=CFG, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def dw() -> AsyncIterator[DelayedWorld]:
    spec = ScenarioSpec(name="delayed", markets=(ScenarioMarket(
        key="FED", title="Fed above 4%?", fair=5000, volatility_ticks=0,
        venues={"polymarket": {"yes_token": PAIR.polymarket_yes_token,
                               "no_token": PAIR.polymarket_no_token,
                               "seconds_delay": str(DELAY_MS / 1000)}},
    ),))
    exchange = funded_exchange(spec)
    exchange.version = 2
    market = next(iter(exchange.markets.values()))
    assert market.match_delay_ms == DELAY_MS
    sim = PolymarketSim(exchange, scenario=None, seed=7, step_ms=50)
    routes: list[tuple[str, str]] = []

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        routes.append((request.method, request.path))

    sim.app.on_response_prepare.append(record)
    await sim.start()
    poly = await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A}), sim.url,
        ws_url=sim.ws_url)
    kalshi = FakeVenue("kalshi", fee=KalshiFeeModel())
    kalshi.add_liquidity(K, Outcome.YES, "ask", 4000, 10 * C)
    kalshi.add_liquidity(K, Outcome.YES, "bid", 3800, 50 * C)
    # the NO token's ask at 0.55 is a resting BUY of YES at 0.45 (complementary matching)
    place_raw(exchange, market, market.yes_token, "BUY", 4500, 10 * 10**6)
    try:
        yield DelayedWorld(exchange, market, sim, poly, kalshi, routes)
    finally:
        await poly.close()
        await kalshi.close()
        await sim.stop()


async def test_a_delayed_first_leg_is_waited_for_then_the_saga_completes(
    dw: DelayedWorld, tmp_path: Path,
) -> None:
    with Journal(tmp_path / "j.db") as j:
        started = time.monotonic()
        saga = (await dw.executor(j).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.COMPLETED
        l1, l2 = saga.orders["L1"], saga.orders["L2"]
        assert l1.intent.venue == "polymarket"
        assert any("pending at the venue" in e for e in l1.errors)
        assert l1.final is not None and l1.final.source == "query" and l1.final.filled == 10 * C
        assert l2.final is not None and l2.final.filled == 10 * C  # sized to what L1 really got
        assert time.monotonic() - started >= DELAY_MS / 1000
        assert ("DELETE", "/order") not in dw.routes  # the held order was never cancelled
        # the executor's lookup after the delay was answered by the user channel, not REST
        assert dw.poly.view_stats["channel"] >= 1
        kinds = [k for k, _ in j.raw_events(saga.saga_id)]
        assert kinds == ["started", "intent", "unknown", "final", "intent", "final", "finished"]
        assert j.unfinished() == []


async def test_a_delayed_leg_killed_after_the_delay_is_hedged_only_then(
    dw: DelayedWorld, tmp_path: Path,
) -> None:
    async def withdraw_during_the_delay() -> None:
        while not any(o.status == "DELAYED" for o in dw.exchange.orders.values()):
            await asyncio.sleep(0.005)
        dw.exchange.cancel(None, [o.id for o in dw.exchange.orders.values()
                                  if o.status == "LIVE"], time.time_ns())

    withdraw = asyncio.create_task(withdraw_during_the_delay())
    policy = SagaPolicy(first_venues=("kalshi", "polymarket"))
    with Journal(tmp_path / "j.db") as j:
        saga = (await dw.executor(j, policy=policy).submit(opportunity())).saga
        await withdraw
        assert saga is not None and saga.ending is Ending.UNWOUND
        l2 = saga.orders["L2"]
        assert l2.intent.venue == "polymarket"
        assert l2.final is not None and l2.final.filled == 0 and l2.final.source == "query"
        events = j.raw_events(saga.saga_id)
        kinds = [k for k, _ in events]
        assert kinds[:6] == ["started", "intent", "final", "intent", "unknown", "final"]
        assert kinds[6] == "decided"  # the hedge is decided only once L2's outcome is known
        decided_ns = events[6][1]["ts_ns"]
        intent_ns = events[3][1]["ts_ns"]
        assert decided_ns - intent_ns >= DELAY_MS * 1_000_000
        assert ("DELETE", "/order") not in dw.routes
        assert j.unfinished() == []
