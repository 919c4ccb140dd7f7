"""Delayed markets (``seconds_delay``) on the local Polymarket, and order states as the venue has
them: a marketable order is answered ``delayed``, held, then matched against the book of *then*.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from polymarket import SecureClient

from arbiter.core.book import Outcome
from arbiter.core.units import parse_price, parse_size
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.base import (
    Action,
    OrderRequest,
    OrderStatus,
    TimeInForce,
    UnknownStatusError,
)
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient, order_status
from tests.sim.polymarket.conftest import (
    ADDR_A,
    KEY_A,
    SimHandle,
    funded_exchange,
    one_market_spec,
    place_raw,
)
from tests.sim.polymarket.test_current_sdks import _local_environment

pytestmark = pytest.mark.integration

DELAY_MS = 300


@pytest.fixture
async def delayed_sim() -> AsyncIterator[SimHandle]:
    """The V2 venue with one market whose marketable orders wait ``DELAY_MS``."""
    exchange = funded_exchange(one_market_spec())
    exchange.version = 2
    market = next(iter(exchange.markets.values()))
    market.match_delay_ms = DELAY_MS
    sim = PolymarketSim(exchange, scenario=None, seed=7, step_ms=50)
    await sim.start()
    try:
        yield SimHandle(sim, exchange, market)
    finally:
        await sim.stop()


def _ioc(token: str, price: str, size: str, cid: str) -> OrderRequest:
    return OrderRequest(market=token, outcome=Outcome.YES, action=Action.BUY,
                        price=parse_price(price), size=parse_size(size), client_order_id=cid,
                        tif=TimeInForce.IOC)


async def _client(h: SimHandle) -> PolymarketClient:
    return await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A}), h.url,
        ws_url=h.ws_url)


async def test_a_marketable_order_is_pending_then_matched_after_the_delay(
    delayed_sim: SimHandle,
) -> None:
    m = delayed_sim.market
    place_raw(delayed_sim.exchange, m, m.no_token, "BUY", 4500, 10 * 10**6)  # YES ask 0.55
    client = await _client(delayed_sim)
    try:
        started = time.monotonic()
        ack = await client.place_order(_ioc(m.yes_token, "0.55", "10", "d-1"))
        assert ack.status is OrderStatus.PENDING and ack.filled == 0 and not ack.status.is_final
        assert (await client.get_order(ack.order_id)).status is OrderStatus.PENDING
        assert [o.order_id for o in await client.open_orders()] == [ack.order_id]
        # the user channel reports the match; REST then has the final state
        while (await client.get_order(ack.order_id)).status is OrderStatus.PENDING:
            assert await client.wait_for_update(ack.order_id, 2.0)
        final = await client.get_order(ack.order_id)
        assert time.monotonic() - started >= DELAY_MS / 1000
        assert final.status is OrderStatus.FILLED and final.filled == parse_size("10")
        # a resting (non-marketable) order is not delayed
        rest = await client.place_order(OrderRequest(
            market=m.yes_token, outcome=Outcome.YES, action=Action.BUY,
            price=parse_price("0.30"), size=parse_size("5"), client_order_id="d-2"))
        assert rest.status is OrderStatus.OPEN
    finally:
        await client.close()


async def test_a_delayed_order_meets_the_book_of_after_the_delay(delayed_sim: SimHandle) -> None:
    m, ex = delayed_sim.market, delayed_sim.exchange
    maker = place_raw(ex, m, m.no_token, "BUY", 4500, 10 * 10**6)
    client = await _client(delayed_sim)
    try:
        ack = await client.place_order(_ioc(m.yes_token, "0.55", "10", "d-3"))
        assert ack.status is OrderStatus.PENDING
        ex.cancel(None, [maker], time.time_ns())  # the liquidity leaves during the delay
        assert await client.wait_for_update(ack.order_id, 2.0)
        final = await client.get_order(ack.order_id)
        assert final.status is OrderStatus.CANCELED and final.filled == 0
        assert ex.wallet(ADDR_A).reserved_collateral == 0  # the hold was released
    finally:
        await client.close()


async def test_the_official_sdk_takes_a_delayed_answer_as_accepted(delayed_sim: SimHandle) -> None:
    m = delayed_sim.market
    place_raw(delayed_sim.exchange, m, m.no_token, "BUY", 4500, 10 * 10**6)
    env = _local_environment(delayed_sim.url)
    run = asyncio.to_thread
    sdk = await run(lambda: SecureClient.create(private_key=KEY_A, wallet=ADDR_A, environment=env))
    try:
        resp = await run(lambda: sdk.place_market_order(
            token_id=m.yes_token, side="BUY", amount="5.5", max_price="0.55", order_type="FAK"))
        assert resp.ok and resp.status == "delayed"
        got = await run(lambda: sdk.get_order(order_id=resp.order_id))
        assert got.status == "DELAYED"
    finally:
        sdk.close()


def test_every_documented_state_maps_and_an_unknown_one_is_an_error() -> None:
    size, half = 10_000_000, 5_000_000
    assert order_status("LIVE", size, 0) is OrderStatus.OPEN
    assert order_status("live", size, half) is OrderStatus.OPEN
    assert order_status("DELAYED", size, 0) is OrderStatus.PENDING
    assert order_status("MATCHED", size, size) is OrderStatus.FILLED
    assert order_status("MATCHED", size, half) is OrderStatus.CANCELED  # a partial, rest killed
    for state in ("UNMATCHED", "CANCELED", "CANCELED_MARKET_RESOLVED",
                  "CANCELED_NOT_ENOUGH_BALANCE", "CANCELED_MARKET_NOT_FOUND",
                  "CANCELED_EXPIRED_ORDER", "CANCELED_ORDER_TIMED_OUT", "INVALID"):
        assert order_status(state, size, 0) is OrderStatus.CANCELED, state
    assert order_status("CANCELED", size, size) is OrderStatus.FILLED
    # the other spellings seen from the venue (NautilusTrader's adapter parses the same forms)
    assert order_status("ORDER_STATUS_LIVE", size, 0) is OrderStatus.OPEN
    assert order_status("ORDER_STATUS_DELAYED", size, 0) is OrderStatus.PENDING
    assert order_status("CANCELED_order couldn't be fully filled. FOK orders are fully filled "
                        "or killed.", size, 0) is OrderStatus.CANCELED
    assert order_status("CANCELED_MARKET_RESOLVED_resolved at block 12345", size, 0) is (
        OrderStatus.CANCELED)
    assert order_status("UNMATCHED_insufficient liquidity", size, 0) is OrderStatus.CANCELED
    for state in ("", "OPEN", "PARTIALLY_FILLED", "UNKNOWN_STATUS", "LIVELY", "DELAYED"[:-1]):
        with pytest.raises(UnknownStatusError):
            order_status(state, size, 0)
