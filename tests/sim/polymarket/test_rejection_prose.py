"""V2 rejections are sentences: the local venue says them, our client types them and recovers.

Not enough balance → ``GET /balance-allowance/update`` and exactly one retry; a v1 order on the
V2 venue → ``order_version_mismatch`` → ``GET /version`` re-read and one re-signed retry; a FAK
that matches nothing → HTTP 400; duplicates and tick changes as before, from the prose.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from polymarket import SecureClient
from polymarket.errors import RequestRejectedError

from arbiter.core.book import Outcome
from arbiter.core.units import parse_money, parse_price, parse_size
from arbiter.venues.base import (
    Action,
    DuplicateOrderError,
    OrderRequest,
    OrderStatus,
    RejectedError,
    TimeInForce,
)
from arbiter.venues.polymarket import errors as venue_errors
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.rest import error_from_message
from tests.sim.polymarket.conftest import (
    ADDR_A,
    KEY_A,
    SimHandle,
    recording_v2_sim,
)
from tests.sim.polymarket.test_current_sdks import _local_environment

pytestmark = pytest.mark.integration


@pytest.fixture
async def v2() -> AsyncIterator[tuple[SimHandle, list[str]]]:
    async with recording_v2_sim(with_status=True) as handle:
        yield handle


def _buy(token: str, price: str, size: str, cid: str,
         tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    return OrderRequest(market=token, outcome=Outcome.YES, action=Action.BUY,
                        price=parse_price(price), size=parse_size(size), client_order_id=cid,
                        tif=tif)


async def _client(h: SimHandle, version: int | None = None) -> PolymarketClient:
    return await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A}), h.url,
        exchange_version=version)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (venue_errors.DUPLICATED, "INVALID_ORDER_DUPLICATED"),
        (venue_errors.tick_message("0.555", "0.01"), "INVALID_ORDER_MIN_TICK_SIZE"),
        (venue_errors.min_size_message("2", "5"), "INVALID_ORDER_MIN_SIZE"),
        ("not enough balance / allowance", "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
        ("not enough balance / allowance: the allowance is not enough -> spender: 0x1",
         "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
        (venue_errors.FOK_NOT_FILLED, "FOK_ORDER_NOT_FILLED_ERROR"),
        (venue_errors.FAK_NOT_FILLED, "FAK_ORDER_NOT_FILLED_ERROR"),
        (venue_errors.POST_ONLY_CROSSES, "INVALID_POST_ONLY_ORDER"),
        (venue_errors.MARKET_NOT_READY, "MARKET_NOT_READY"),
        ("order_version_mismatch", "ORDER_VERSION_MISMATCH"),
        ("invalid expiration", "INVALID_ORDER_EXPIRATION"),
    ],
)
def test_prose_maps_to_typed_errors(message: str, code: str) -> None:
    err = error_from_message(400, message)
    assert err.code == code and err.message == message and err.status == 400
    assert isinstance(err, DuplicateOrderError if code == "INVALID_ORDER_DUPLICATED"
                      else RejectedError)


async def test_a_deposit_the_venue_has_not_seen_is_refreshed_then_retried_once(
    v2: tuple[SimHandle, list[str]],
) -> None:
    h, calls = v2
    h.exchange.fund(ADDR_A, parse_money("600"), unseen=True)  # 1000 seen + 600 not yet
    client = await _client(h)
    try:
        calls.clear()
        ack = await client.place_order(_buy(h.market.yes_token, "0.50", "3000", "big"))
        assert ack.status is OrderStatus.OPEN  # $1500 > $1000 seen; fine after the update
        posts = [c for c in calls if c.startswith("POST /order")]
        assert posts == ["POST /order 400", "POST /order 200"]
        assert sum(c.startswith("GET /balance-allowance/update") for c in calls) == 1
        calls.clear()
        with pytest.raises(RejectedError) as err:  # really not there: one update, no loop
            await client.place_order(_buy(h.market.yes_token, "0.50", "1000", "bigger"))
        assert err.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
        assert err.value.message == venue_errors.NOT_ENOUGH_BALANCE
        assert [c.split()[1] for c in calls if "/order" in c or "update" in c] == [
            "/order", "/balance-allowance/update", "/order"]
    finally:
        await client.close()


async def test_a_v1_order_on_the_v2_venue_re_reads_the_version_and_re_signs(
    v2: tuple[SimHandle, list[str]],
) -> None:
    h, calls = v2
    client = await _client(h, version=1)  # pinned to the old generation
    try:
        calls.clear()
        ack = await client.place_order(_buy(h.market.yes_token, "0.40", "10", "v"))
        assert ack.status is OrderStatus.OPEN and client.exchange_version == 2
        assert [c for c in calls if "/order" in c or "/version" in c] == [
            "POST /order 400", "GET /version 200", "POST /order 200"]
        assert h.exchange.orders[ack.order_id].status == "LIVE"
    finally:
        await client.close()


async def test_unknown_exchange_versions_sign_nothing(v2: tuple[SimHandle, list[str]]) -> None:
    h, calls = v2
    client = await _client(h, version=7)
    try:
        calls.clear()
        with pytest.raises(RejectedError) as err:
            await client.place_order(_buy(h.market.yes_token, "0.40", "10", "v7"))
        assert err.value.code == "UNSUPPORTED_EXCHANGE_VERSION"
        assert not [c for c in calls if c.startswith("POST /order")]
    finally:
        await client.close()


async def test_a_fak_with_nothing_to_match_is_a_400_for_every_client(
    v2: tuple[SimHandle, list[str]],
) -> None:
    h, _ = v2
    client = await _client(h)
    try:
        # the venue's 400 + prose is a killed order for our client: nothing filled, the order
        # hash kept (the journal must know every order the venue has seen)
        killed = await client.place_order(_buy(h.market.yes_token, "0.50", "10", "fak",
                                               TimeInForce.IOC))
        assert killed.status is OrderStatus.CANCELED and killed.filled == 0
        assert killed.order_id.startswith("0x") and len(killed.order_id) == 66
        # the same order again: the venue's "Duplicated." becomes a lookup of the one order
        again = await client.place_order(_buy(h.market.yes_token, "0.50", "10", "fak",
                                              TimeInForce.IOC))
        assert again.status is OrderStatus.CANCELED and again.filled == 0
    finally:
        await client.close()
    env = _local_environment(h.url)
    run = asyncio.to_thread
    sdk = await run(lambda: SecureClient.create(private_key=KEY_A, wallet=ADDR_A, environment=env))
    try:
        with pytest.raises(RequestRejectedError) as sdk_err:
            await run(lambda: sdk.place_market_order(
                token_id=h.market.yes_token, side="BUY", amount="5", max_price="0.5",
                order_type="FAK"))
        assert sdk_err.value.status == 400 and venue_errors.FAK_NOT_FILLED in str(sdk_err.value)
    finally:
        sdk.close()
