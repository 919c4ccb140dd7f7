"""Our REST client against the local Kalshi over loopback: orders, reads, retries, errors."""

from __future__ import annotations

import aiohttp
import pytest

from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import (
    Action,
    AuthError,
    DryRunClient,
    NotFoundError,
    OrderRequest,
    OrderStatus,
    RateLimitedError,
    RejectedError,
    TimeInForce,
    TransientError,
)
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.signing import Signer
from tests.venues.kalshi.support import OTHER, TRADER, client_for, make_key

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

TICKER = "KXSTATIC-A"  # static scenario: YES bids 0.39/0.38/0.37, asks 0.41/0.42/0.43, 50 each


def req(cid: str, outcome: str = "yes", action: str = "buy", price: int = 3000,
        size: int = 10, tif: TimeInForce = TimeInForce.GTC, market: str = TICKER) -> OrderRequest:
    return OrderRequest(market, Outcome(outcome), Action(action), Price(price),
                        Size(size * 1_000_000), cid, tif)


async def faults(sim: KalshiSim, **settings: object) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{sim.port}/_sim/faults", json=settings,
        headers=sim.admin_headers(),
    ) as resp:
        assert resp.status == 200


async def test_market_data(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        status = await client.exchange_status()
        assert status["trading_active"] is True
        markets = await client.markets(status="open")
        assert {m.ticker for m in markets} == {"KXSTATIC-A", "KXSTATIC-B"}
        market = await client.market(TICKER)
        assert (market.yes_bid, market.yes_ask, market.tick) == (3900, 4100, 100)
        yes, no = await client.orderbook(TICKER)
        assert sorted(yes) == [(3700, 50_000_000), (3800, 50_000_000), (3900, 50_000_000)]
        assert sorted(no) == [(5700, 50_000_000), (5800, 50_000_000), (5900, 50_000_000)]
        top_yes, _ = await client.orderbook(TICKER, depth=1)
        assert top_yes == [(3900, 50_000_000)]


async def test_place_rest_cancel_and_reads(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        before = await client.balance()
        ack = await client.place_order(req("rest-1"))
        assert ack.status is OrderStatus.OPEN and ack.remaining == 10_000_000
        assert await client.balance() == before - 3000 * 10_000_000  # $3 reserved
        listed = await client.open_orders(TICKER)
        assert [o.order_id for o in listed] == [ack.order_id]
        by_cid = await client.get_order(client_order_id="rest-1")
        assert by_cid.order_id == ack.order_id
        done = await client.cancel_order(ack.order_id)
        assert done.status is OrderStatus.CANCELED and done.remaining == 0
        assert await client.open_orders() == []
        assert await client.balance() == before
        with pytest.raises(NotFoundError):
            await client.cancel_order("no-such-order")


async def test_buy_no_crosses_and_reports_fill_position_fee(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        before = await client.balance()
        # buy NO at 0.62 = YES ask 0.38 on the one book: lifts the 0.39 YES bid
        ack = await client.place_order(req("take-1", "no", "buy", 6200, 5, TimeInForce.IOC))
        assert ack.status is OrderStatus.FILLED
        assert ack.filled == 5_000_000 and ack.avg_fill_price == 6100
        fills = await client.fills()
        # the fill carries outcome_side=no / book_side=ask: read as buy NO at the NO price
        assert len(fills) == 1 and fills[0].is_taker
        assert (fills[0].outcome, fills[0].action) == (Outcome.NO, Action.BUY)
        assert fills[0].price == 6100 and fills[0].size == 5_000_000
        fee = 9 * 10**8  # ceil_to_cent(0.07 x 5 x 0.39 x 0.61 = 0.0833) = $0.09
        assert fills[0].fee == fee
        positions = await client.positions()
        assert len(positions) == 1
        assert (positions[0].outcome, positions[0].size) == (Outcome.NO, 5_000_000)
        assert await client.balance() == before - 6100 * 5_000_000 - fee


async def test_typed_errors(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        with pytest.raises(NotFoundError) as nf:
            await client.place_order(req("x1", market="KXNOPE"))
        assert nf.value.code == "market_not_found"
        with pytest.raises(RejectedError) as rej:
            await client.place_order(req("x2", price=3050))  # off the cent grid
        assert rej.value.code == "invalid_price"
        with pytest.raises(RejectedError) as poor:
            await client.place_order(req("x3", size=100_000))
        assert poor.value.code == "insufficient_balance"
    stranger = KalshiRestClient(
        KalshiConfig(env=KalshiEnv.DEMO, rest_url=sim.rest_url, ws_url=sim.ws_url),
        Signer("unknown-key", make_key(TRADER).private_key),
    )
    async with stranger:
        with pytest.raises(AuthError):
            await stranger.balance()
    forger = KalshiRestClient(  # a known key id signed with somebody else's key
        KalshiConfig(env=KalshiEnv.DEMO, rest_url=sim.rest_url, ws_url=sim.ws_url),
        Signer(TRADER, make_key(OTHER).private_key),
    )
    async with forger:
        with pytest.raises(AuthError) as auth:
            await forger.balance()
        assert "INCORRECT_API_KEY_SIGNATURE" in str(auth.value)


async def test_get_retries_through_5xx_and_429(sim: KalshiSim) -> None:
    async with client_for(sim, max_retries=3) as client:
        await faults(sim, http_burst=[503, 2])
        assert await client.balance() > 0
        attempts = client.attempts
        await faults(sim, http_burst=[429, 3])
        assert await client.balance() > 0
        assert client.attempts - attempts == 4
        await faults(sim, http_burst=[500, 4])
        with pytest.raises(TransientError):
            await client.balance()
        await faults(sim, http_burst=[429, 4])
        with pytest.raises(RateLimitedError):
            await client.balance()


async def test_non_idempotent_errors_are_not_retried(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        attempts = client.attempts
        with pytest.raises(RejectedError):
            await client.place_order(req("bad", price=3050))
        assert client.attempts - attempts == 1


async def test_retried_create_places_exactly_one_order(sim: KalshiSim) -> None:
    """The create goes through but the answer is lost (503 after the fact): no second order."""
    async with client_for(sim) as client:
        await faults(sim, http_burst=[503, 1], http_burst_methods=["POST"], http_burst_after=True)
        ack = await client.place_order(req("once-1"))
        assert ack.status is OrderStatus.OPEN
        orders = [o for o in await client.open_orders() if o.client_order_id == "once-1"]
        assert len(orders) == 1 and orders[0].order_id == ack.order_id
        account = sim.exchange.accounts[TRADER]
        assert sum(1 for oid in account.order_ids
                   if sim.exchange.orders[oid].client_order_id == "once-1") == 1


async def test_retried_ioc_that_filled_is_not_sent_twice(sim: KalshiSim) -> None:
    """A filled IOC frees its client_order_id at the venue: only the lookup prevents a repeat."""
    async with client_for(sim) as client:
        await faults(sim, http_burst=[502, 1], http_burst_methods=["POST"], http_burst_after=True)
        ack = await client.place_order(req("ioc-1", price=4100, size=5, tif=TimeInForce.IOC))
        assert ack.filled == 5_000_000
        assert len(await client.fills()) == 1


async def test_create_retried_before_it_reached_the_venue(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        await faults(sim, http_burst=[503, 2], http_burst_methods=["POST"])
        ack = await client.place_order(req("late-1"))
        assert ack.status is OrderStatus.OPEN
        assert len(await client.open_orders()) == 1


async def test_duplicate_open_client_order_id_returns_the_existing_order(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        first = await client.place_order(req("dup-1"))
        second = await client.place_order(req("dup-1"))
        assert second.order_id == first.order_id
        assert len(await client.open_orders()) == 1


async def test_dry_run_sends_nothing_but_reads_pass_through(sim: KalshiSim) -> None:
    said: list[str] = []
    async with client_for(sim) as real:
        dry = DryRunClient(real, emit=said.append)
        ack = await dry.place_order(req("dry-1"))
        assert ack.simulated and ack.order_id == "dry-dry-1"
        assert (await dry.place_order(req("dry-1"))).order_id == ack.order_id
        cancelled = await dry.cancel_order(ack.order_id)
        assert cancelled.status is OrderStatus.CANCELED
        assert await dry.open_orders() == []
        assert await dry.balance() == 10_000 * 10**10
        assert sim.exchange.accounts[TRADER].order_ids == []
        assert any("would place buy 10 KXSTATIC-A yes @ 0.3" in s for s in said)


async def test_timeouts_become_transient_errors(sim: KalshiSim) -> None:
    async with client_for(sim, timeout_s=0.2, max_retries=1) as client:
        await faults(sim, latency_ms=400)
        with pytest.raises(TransientError) as err:
            await client.balance()
        assert err.value.code == "timeout"
        await faults(sim, latency_ms=0)
