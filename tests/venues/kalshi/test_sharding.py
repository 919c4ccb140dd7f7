"""Exchange sharding against the local Kalshi: markets on two shards, collateral per shard,
cancels routed by market, the risk check on the market's shard (issue 19).

Sources: docs ``/getting_started/exchange_sharding``; kalshi-python-sync 3.34.0
``cancel_order_v2`` (``market_ticker`` auto-routes, else shard 0), ``GetBalanceResponse``
(``balance_breakdown``), ``Market``/``Order``/``Fill``/``MarketPosition.exchange_index``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.pairs import Pair
from arbiter.core.ratelimit import SECOND_NS, RateLimiter, Rejection
from arbiter.core.ratelimit import Action as RateAction
from arbiter.core.risk import Reason, RiskBook
from arbiter.core.units import ONE_CONTRACT, Money, Price, Size
from arbiter.execution.risk_manager import RiskManager
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import (
    Action,
    DryRunClient,
    LocalRateLimitError,
    NotFoundError,
    OrderRequest,
    OrderStatus,
    RejectedError,
    TimeInForce,
)
from arbiter.venues.kalshi.signing import signing_path
from arbiter.venues.ratelimited import RateLimitedClient
from tests.venues.kalshi.support import TRADER, client_for, make_key, running_sim

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

C = ONE_CONTRACT
M = 10**10
ON_1 = "KXSTATIC-B"  # pinned to shard 1 (YES 0.69 bid, 0.71 ask); KXSTATIC-A on shard 0


@pytest.fixture
async def sharded(tmp_path: Path) -> AsyncIterator[KalshiSim]:
    async with running_sim(tmp_path, shards={ON_1: 1}) as sim:
        yield sim


def _req(cid: str, market: str = ON_1, price: int = 3000, count: int = 10,
         tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    return OrderRequest(market, Outcome.YES, Action.BUY, Price(price), Size(count * C), cid, tif)


async def test_collateral_cancels_and_reads_follow_the_markets_shard(sharded: KalshiSim) -> None:
    sim = sharded
    async with client_for(sim) as client:
        shards = {m.ticker: m.exchange_index for m in await client.markets()}
        assert shards == {"KXSTATIC-A": 0, ON_1: 1}
        assert await client.shard_balances() == {0: 10_000 * M, 1: 0}
        # $10,000 in total, none of it on shard 1: the matching engine of shard 1 refuses
        with pytest.raises(RejectedError) as poor:
            await client.place_order(_req("s1-0"))
        assert poor.value.code == "insufficient_balance"
        sim.exchange.transfer(TRADER, 0, 1, 50 * M)
        assert await client.shard_balances() == {0: 9_950 * M, 1: 50 * M}
        assert await client.balance() == 10_000 * M

        resting = await client.place_order(_req("s1-1"))
        assert (await client.get_order(resting.order_id)).exchange_index == 1
        assert await client.shard_balances() == {0: 9_950 * M, 1: 47 * M}
        done = await client.cancel_order(resting.order_id)  # routed: market_ticker=KXSTATIC-B
        assert done.status is OrderStatus.CANCELED

        taken = await client.place_order(_req("s1-2", price=7500, count=5, tif=TimeInForce.IOC))
        assert taken.status is OrderStatus.FILLED
        (fill,) = await client.fills()
        (position,) = await client.positions()
        assert fill.exchange_index == 1 and position.exchange_index == 1

    # a fresh client knows nothing of the order: it looks the market up before cancelling
    async with client_for(sim) as fresh:
        again = await fresh.place_order(_req("s1-3"))
    async with client_for(sim) as fresh:
        assert (await fresh.cancel_order(again.order_id)).status is OrderStatus.CANCELED


async def test_a_cancel_without_its_market_goes_to_shard_0_and_finds_nothing(
    sharded: KalshiSim,
) -> None:
    sim = sharded
    sim.exchange.transfer(TRADER, 0, 1, 50 * M)
    async with client_for(sim) as client:
        order = await client.place_order(_req("s1-4"))
    path = f"/portfolio/events/orders/{order.order_id}"
    signer = make_key(TRADER).signer()
    headers = signer.headers("DELETE", signing_path(sim.rest_url) + path)
    async with aiohttp.ClientSession() as http, http.delete(
        sim.rest_url + path, headers=headers
    ) as resp:  # what the client sent before: no market_ticker
        assert resp.status == 404
    assert sim.exchange.orders[order.order_id].status == "resting"
    async with client_for(sim) as client:
        with pytest.raises(NotFoundError):
            await client._request("DELETE", path, {"exchange_index": "0"})
        assert (await client.cancel_order(order.order_id)).status is OrderStatus.CANCELED


async def test_the_risk_check_uses_the_collateral_of_the_markets_shard(
    sharded: KalshiSim,
) -> None:
    sim = sharded
    sim.exchange.transfer(TRADER, 0, 1, 3 * M)
    pair = Pair(name="B", kalshi_ticker=ON_1, polymarket_yes_token="1", polymarket_no_token="2")
    size = Size(10 * C)
    legs = (
        Leg("kalshi", ON_1, Outcome.YES, 4100, Money(4100 * size), Money(0), 1),
        Leg("polymarket", "2", Outcome.NO, 5500, Money(5500 * size), Money(0), 1),
    )
    opp = Opportunity("B", "kalshi_yes_poly_no", size, legs, Money(9600 * size), Money(0),
                      Money(400 * size), 1)
    book = RiskBook()
    book.set_balance("polymarket", 1_000 * M)
    async with client_for(sim) as client:
        manager = RiskManager(book, {"kalshi": client}, {"B": pair}, clock=lambda: 1)
        await manager.refresh_balances()
        assert book.market_shards[("kalshi", ON_1)] == 1
        assert book.balances["kalshi"] == 10_000 * M
        refused = manager.check_and_reserve("s-1", opp)  # $4.10 needed, $3 on shard 1
        assert refused.reason is Reason.BALANCE and "shard 1" in refused.detail
        sim.exchange.transfer(TRADER, 0, 1, 2 * M)
        await manager.refresh_balances()
        assert manager.check_and_reserve("s-2", opp).approved


class _CountingLimiter(RateLimiter):
    """The deployment's limiter, recording each admitted or refused request."""

    def __init__(self, now_ns: int) -> None:
        super().__init__(now_ns)
        self.asked: list[tuple[str, str]] = []

    def check(self, now_ns: int, tenant_id: str, venue: str,
              action: RateAction | str) -> Rejection | None:
        self.asked.append((venue, RateAction(action).value))
        return super().check(now_ns, tenant_id, venue, action)


async def test_the_risk_refresh_of_shards_goes_through_the_rate_limiter(
    sharded: KalshiSim,
) -> None:
    """Every venue call is admitted by the limiter: the per-shard balance and the shard of a
    market the client has not read yet are reads like ``balance()``, under the dry-run wrapper
    too; a shard already known costs nothing."""
    pair = Pair(name="B", kalshi_ticker=ON_1, polymarket_yes_token="1", polymarket_no_token="2")
    limiter = _CountingLimiter(1)
    limiter.add_tenant("alice", orders_per_second=5, order_burst=5, now_ns=1)
    async with client_for(sharded) as inner:
        wrapped = DryRunClient(RateLimitedClient(inner, limiter, "alice"))
        book = RiskBook()
        manager = RiskManager(book, {"kalshi": wrapped}, {"B": pair}, clock=lambda: 1)
        attempts = inner.attempts
        await manager.refresh_balances()
        # balance, shard_balances, shard_of(KXSTATIC-B): three requests, three admissions
        assert inner.attempts - attempts == 3
        assert limiter.asked == [("kalshi", "read")] * 3
        assert book.market_shards[("kalshi", ON_1)] == 1
        await manager.refresh_balances()  # the shard is known now: two requests, two reads
        assert inner.attempts - attempts == 5
        assert limiter.asked == [("kalshi", "read")] * 5


async def test_a_refused_shard_read_is_never_sent(sharded: KalshiSim) -> None:
    class _Refusing(_CountingLimiter):
        def check(self, now_ns: int, tenant_id: str, venue: str,
                  action: RateAction | str) -> Rejection | None:
            self.asked.append((venue, RateAction(action).value))
            return Rejection("tenant", "tenant:alice:read", SECOND_NS)

    limiter = _Refusing(1)
    limiter.add_tenant("alice", orders_per_second=5, order_burst=5, now_ns=1)
    async with client_for(sharded) as inner:
        wrapped = RateLimitedClient(inner, limiter, "alice")
        attempts = inner.attempts
        with pytest.raises(LocalRateLimitError):
            await wrapped.shard_balances()
        with pytest.raises(LocalRateLimitError):
            await wrapped.shard_of(ON_1)
        assert inner.attempts == attempts  # nothing left the process
