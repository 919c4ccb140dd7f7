"""The user channel as the official client speaks it, and the client's order view fed from it.

* our subscribe equals ``polymarket-client`` 0.14.0's own frame (``markets`` omitted: every
  market of the key);
* ``polymarket-client``'s user stream (``UserSpec()``) subscribes to the local venue, keeps the
  subscription and parses its order and trade events, trades with ``match_time``;
* the official subscription changes (``operation: subscribe / unsubscribe``) narrow and widen it;
* ``PolymarketClient.get_order`` answers a final state the channel reported without REST, and
  asks REST when the channel said nothing (events dropped) or nothing final.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from polymarket import AsyncSecureClient
from polymarket._internal.streams.clob.user_protocol import UserServerState, build_initial_frame
from polymarket.models import ApiKeyCreds
from polymarket.models.clob.user_events import UserOrderEvent as SdkOrderEvent
from polymarket.models.clob.user_events import UserTradeEvent as SdkTradeEvent
from polymarket.streams import UserSpec

from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size
from arbiter.venues.base import Action, OrderRequest, OrderStatus
from arbiter.venues.polymarket.auth import ApiCreds, PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.ws import UserFeed
from tests.sim.polymarket.conftest import (
    ADDR_A,
    ADDR_B,
    KEY_A,
    KEY_B,
    SimHandle,
    place_raw,
    recording_v2_sim,
)
from tests.sim.polymarket.test_current_sdks import _local_environment

pytestmark = pytest.mark.integration


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


@pytest.fixture
async def sim() -> AsyncIterator[tuple[SimHandle, list[str]]]:
    async with recording_v2_sim(with_status=False) as handle:
        yield handle


def test_our_subscribe_is_the_official_frame() -> None:
    api = ApiCreds("key-1", "c2VjcmV0", "pass")
    ours = UserFeed(api, lambda e: None).subscribe_frame()
    official = build_initial_frame(UserServerState(include_all_markets=True),
                                   ApiKeyCreds(key="key-1", secret="c2VjcmV0", passphrase="pass"))
    assert ours == official
    assert "markets" not in ours  # all markets: omitted, never an empty list
    some = UserFeed(api, lambda e: None, markets=["0xabc"]).subscribe_frame()
    assert some == build_initial_frame(
        UserServerState(include_all_markets=False, markets=("0xabc",)),
        ApiKeyCreds(key="key-1", secret="c2VjcmV0", passphrase="pass"))


async def test_the_official_user_stream_against_the_local_venue(
    sim: tuple[SimHandle, list[str]],
) -> None:
    handle, _ = sim
    m = handle.market
    sdk = await AsyncSecureClient.create(private_key=KEY_A, wallet=ADDR_A,
                                         environment=_local_environment(handle.url))
    ours = await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_B}), handle.url)
    try:
        stream = await sdk.subscribe(UserSpec())  # no markets: everything of the key
        await _until(lambda: len(handle.sim.user_conns) == 1)
        # B rests a SELL of YES; A (the SDK's key) buys into it: A's order and trade events
        handle.exchange.fund(ADDR_B, tokens={m.yes_token: 100 * 10**6})
        await ours.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.SELL, Price(5500),
                                            Size(5_000_000), "rest-1"))
        placed = await sdk.place_limit_order(token_id=m.yes_token, price="0.55", size="5",
                                             side="BUY")
        assert placed.ok, placed
        seen: list[Any] = []

        async def collect() -> None:
            async for event in stream:
                seen.append(event)
                if isinstance(event, SdkTradeEvent):
                    return

        await asyncio.wait_for(collect(), 5)
        orders = [e for e in seen if isinstance(e, SdkOrderEvent)]
        assert orders and orders[0].payload.id == placed.order_id
        trade = seen[-1].payload
        assert trade.taker_order_id == placed.order_id
        assert trade.matched_at is not None  # ``match_time`` read by the SDK
        assert trade.status == "CONFIRMED"
        await stream.close()
    finally:
        await ours.close()
        await sdk.close()


async def test_subscription_changes_narrow_and_widen(sim: tuple[SimHandle, list[str]]) -> None:
    handle, _ = sim
    m = handle.market
    ours = await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A}), handle.url)
    api = ours.credentials.api
    assert api is not None
    frames: list[dict[str, Any]] = []
    try:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(handle.ws_url + "/user") as ws:
            await ws.send_str(json.dumps(UserFeed(api, lambda e: None).subscribe_frame()))
            await _until(lambda: len(handle.sim.user_conns) == 1)

            async def place(cid: str) -> None:
                place_raw(handle.exchange, m, m.yes_token, "SELL", 5500, 5_000_000)
                await ours.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                                    Price(5500), Size(5_000_000), cid))

            async def drain() -> list[dict[str, Any]]:
                got: list[dict[str, Any]] = []
                while True:
                    try:
                        msg = await ws.receive(timeout=0.3)
                    except TimeoutError:
                        return got
                    got.append(json.loads(msg.data))

            await place("all-1")
            frames = await drain()
            trades = [f for f in frames if f["event_type"] == "trade"]
            assert trades and all("match_time" in f and "matchtime" not in f for f in trades)
            # narrowed to another market: nothing of ours arrives
            await ws.send_str(json.dumps({"operation": "subscribe", "markets": ["0xother"]}))
            await asyncio.sleep(0.05)
            await place("narrow-1")
            assert await drain() == []
            # unsubscribed again: back to every market
            await ws.send_str(json.dumps({"operation": "unsubscribe", "markets": ["0xother"]}))
            await asyncio.sleep(0.05)
            await place("wide-1")
            assert any(f["event_type"] == "trade" for f in await drain())
    finally:
        await ours.close()


async def test_order_view_from_the_channel_with_rest_as_fallback(
    sim: tuple[SimHandle, list[str]],
) -> None:
    handle, calls = sim
    m = handle.market
    client = await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A}), handle.url,
        ws_url=handle.ws_url)
    try:
        # a resting BUY, then filled in full by someone else: the channel reports it
        ack = await client.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                                    Price(4500), Size(5_000_000), "view-1"))
        assert ack.status is OrderStatus.OPEN
        await _until(lambda: len(handle.sim.user_conns) == 1)
        place_raw(handle.exchange, m, m.yes_token, "SELL", 4500, 5_000_000)
        await _until(lambda: client._final.get(ack.order_id) is not None)
        calls.clear()
        got = await client.get_order(client_order_id="view-1")
        assert got.status is OrderStatus.FILLED and got.filled == 5_000_000
        assert got.client_order_id == "view-1"
        assert not any(c.startswith("GET /data/order/") for c in calls)  # no REST lookup
        assert client.view_stats["channel"] == 1

        # a partial fill is not final: REST is asked, and tells the truth
        part = await client.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                                     Price(4400), Size(10_000_000), "view-2"))
        place_raw(handle.exchange, m, m.yes_token, "SELL", 4400, 5_000_000)
        await asyncio.sleep(0.1)
        calls.clear()
        got = await client.get_order(part.order_id)
        assert got.status is OrderStatus.OPEN and got.filled == 5_000_000
        assert f"GET /data/order/{part.order_id}" in calls

        # the channel loses everything: the cancellation is learnt from REST
        async with aiohttp.ClientSession() as s:
            await s.post(handle.url + "/_sim/faults", json={"drop_prob": 1.0},
                         headers=handle.sim.admin_headers())
        await client.rest.cancel(part.order_id)
        await asyncio.sleep(0.1)
        assert part.order_id not in client._final
        rest_before = client.view_stats["rest"]
        got = await client.get_order(part.order_id)
        assert got.status is OrderStatus.CANCELED and got.filled == 5_000_000
        assert client.view_stats["rest"] == rest_before + 1
    finally:
        await client.close()


def test_only_undoable_facts_become_final() -> None:
    """A partial UPDATE (even one saying MATCHED), an unknown state or a contradiction is left
    to REST; a late partial after a final one changes nothing; two different endings drop the
    channel's view."""
    from arbiter.venues.polymarket.rest import PolymarketRest
    from arbiter.venues.polymarket.schemas import UserOrderEvent

    creds = PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A,
                                            "POLYMARKET_API_KEY": "k",
                                            "POLYMARKET_API_SECRET": "c2VjcmV0",
                                            "POLYMARKET_API_PASSPHRASE": "p"})
    client = PolymarketClient(PolymarketRest("http://127.0.0.1:9", creds), exchange_version=2)

    def event(kind: str, matched: str, status: str = "") -> UserOrderEvent:
        return UserOrderEvent(id="0x1", type=kind, asset_id="7", side="BUY", price="0.5",
                              original_size="10", size_matched=matched, status=status)

    for partial in (event("UPDATE", "5", "MATCHED"), event("UPDATE", "5", "LIVE"),
                    event("UPDATE", "10", "SOMETHING_NEW"), event("CANCELLATION", "0", "LIVE"),
                    event("UPDATE", "x")):
        client._on_user_event(partial)
        assert "0x1" not in client._final, partial
    client._on_user_event(event("CANCELLATION", "4", "CANCELED"))
    assert client._final["0x1"].status is OrderStatus.CANCELED
    assert client._final["0x1"].filled == 4_000_000
    client._on_user_event(event("UPDATE", "2", "LIVE"))  # late, reordered
    assert client._final["0x1"].filled == 4_000_000
    client._on_user_event(event("CANCELLATION", "4", "CANCELED"))  # duplicated: the same
    assert client._final["0x1"].status is OrderStatus.CANCELED
    client._on_user_event(event("UPDATE", "10"))  # a different ending: REST must decide
    assert client._final["0x1"] is None
    client._on_user_event(event("CANCELLATION", "4", "CANCELED"))  # ... from now on
    assert client._final["0x1"] is None
