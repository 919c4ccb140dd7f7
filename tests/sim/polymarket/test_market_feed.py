"""MarketFeed against the local Polymarket: snapshots, updates, faults, reconnects, user feed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from arbiter.core.units import parse_tick
from arbiter.sim.polymarket.exchange import SimMarket
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.parsing import MarketBooks
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.schemas import UserEvent, UserOrderEvent, UserTradeEvent
from arbiter.venues.polymarket.ws import Backoff, MarketFeed, UserFeed
from tests.sim.polymarket.conftest import KEY_A, SimHandle, place_raw

pytestmark = pytest.mark.integration


def _in_parity(books: MarketBooks, market: SimMarket) -> bool:
    for token in (market.yes_token, market.no_token):
        book = books.book(token)
        if book is None:
            return False
        bids, asks = market.levels(token)
        if list(book.bids) != bids or list(book.asks) != asks:
            return False
    return True


async def _until(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _shape_book(h: SimHandle, n: int, start: int = 0) -> None:
    """Rest and cancel orders on both tokens around the middle of the book."""
    m, ex = h.market, h.exchange
    for i in range(start, start + n):
        price = 3000 + (i % 15) * 100
        token = m.yes_token if i % 2 else m.no_token
        # YES bids 0.30-0.44 and NO bids 0.30-0.44 (= YES asks 0.56-0.70) never cross
        oid = place_raw(ex, m, token, "BUY", price, 1_000_000 * (1 + i % 4))
        if i % 3 == 0:
            ex.cancel(None, [oid], 0)


async def test_snapshot_and_updates_track_the_venue(maker_sim: SimHandle) -> None:
    m = maker_sim.market
    feed = MarketFeed([m.yes_token, m.no_token], ws_url=maker_sim.ws_url, seed=1)
    async with feed:
        await _until(lambda: _in_parity(feed.books, m))
        assert feed.books.book(m.yes_token) is not None
        yes = feed.books.book(m.yes_token)
        assert yes is not None and yes.best_bid is not None and yes.best_ask is not None
        _shape_book(maker_sim, 30)
        await _until(lambda: _in_parity(feed.books, m))
        assert feed.stats.malformed == 0 and feed.stats.mismatches == 0
        assert feed.stats.events > 30


async def test_parity_restored_under_drops_duplicates_and_reorders(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    rest = PolymarketRest(bare_sim.url)
    feed = MarketFeed([m.yes_token, m.no_token], ws_url=bare_sim.ws_url, rest=rest, seed=2,
                      resync_interval_s=0.3)
    try:
        async with feed:
            await feed.wait_connected()
            await _until(lambda: _in_parity(feed.books, m))
            bare_sim.sim.faults.update(
                {"seed": 5, "drop_prob": 0.25, "duplicate_prob": 0.2, "reorder_prob": 0.3}
            )
            for batch in range(6):
                _shape_book(bare_sim, 10, start=batch * 10)
                await asyncio.sleep(0.02)
            await _until(lambda: feed.stats.mismatches + feed.stats.rejected > 0)
            bare_sim.sim.faults.reset()
            await _until(lambda: _in_parity(feed.books, m))
            assert feed.stats.resyncs > 0
    finally:
        await rest.close()


async def test_reconnect_resubscribes_and_resyncs(maker_sim: SimHandle) -> None:
    m = maker_sim.market
    feed = MarketFeed([m.yes_token, m.no_token], ws_url=maker_sim.ws_url, seed=3,
                      backoff=Backoff(initial_s=0.01, max_s=0.05))
    async with feed:
        await _until(lambda: _in_parity(feed.books, m))
        maker_sim.sim.faults.update({"disconnect_after": 2})
        _shape_book(maker_sim, 12)
        await _until(lambda: feed.stats.reconnects >= 1)
        _shape_book(maker_sim, 6, start=40)
        await _until(lambda: _in_parity(feed.books, m) and not feed.books.stale)


async def test_silent_connection_is_replaced(maker_sim: SimHandle) -> None:
    m = maker_sim.market
    feed = MarketFeed([m.yes_token], ws_url=maker_sim.ws_url, seed=4, silence_timeout_s=0.2,
                      ping_interval_s=10.0, backoff=Backoff(initial_s=0.01, max_s=0.02))
    async with feed:
        await _until(lambda: feed.books.book(m.yes_token) is not None)
        await _until(lambda: feed.stats.reconnects >= 1, timeout_s=3.0)


async def test_ping_pong_and_tick_size_change(maker_sim: SimHandle) -> None:
    m = maker_sim.market
    feed = MarketFeed([m.yes_token, m.no_token], ws_url=maker_sim.ws_url, seed=5,
                      ping_interval_s=0.02, silence_timeout_s=10.0)
    async with feed:
        await _until(lambda: _in_parity(feed.books, m))
        await _until(lambda: feed.stats.pongs >= 3)  # application-level PING -> PONG
        maker_sim.exchange.set_tick(m, parse_tick("0.001"), 0)
        book = feed.books.book(m.yes_token)
        await _until(lambda: book is not None and book.tick == 10)


async def test_user_channel_events_and_bad_credentials(bare_sim: SimHandle) -> None:
    from arbiter.core.book import Outcome
    from arbiter.core.units import Price, Size
    from arbiter.venues.base import Action, OrderRequest
    from arbiter.venues.polymarket.client import PolymarketClient

    m = bare_sim.market
    creds = PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A})
    client = await PolymarketClient.connect(creds, bare_sim.url)
    events: list[UserEvent] = []
    api = client.credentials.api
    assert api is not None
    user = UserFeed(api, events.append, ws_url=bare_sim.ws_url, seed=6)
    try:
        await user.start()
        await asyncio.wait_for(user.connected.wait(), 5)
        await _until(lambda: len(bare_sim.sim.user_conns) == 1)  # subscription processed
        place_raw(bare_sim.exchange, m, m.yes_token, "SELL", 5500, 5_000_000)
        await client.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                              Price(5500), Size(10_000_000), "u-1"))
        await _until(lambda: any(isinstance(e, UserTradeEvent) for e in events))
        kinds = [e.type for e in events if isinstance(e, UserOrderEvent)]
        assert kinds[0] == "PLACEMENT" and "UPDATE" in kinds
        trade = next(e for e in events if isinstance(e, UserTradeEvent))
        assert trade.size == "5" and trade.price == "0.55" and trade.trader_side == "TAKER"
    finally:
        await user.stop()
        await client.close()
    from arbiter.venues.polymarket.auth import ApiCreds

    bad = UserFeed(ApiCreds(api.api_key, api.secret, "wrong"), events.append,
                   ws_url=bare_sim.ws_url, seed=7, backoff=Backoff(initial_s=0.01, max_s=0.02))
    try:
        await bad.start()
        await _until(lambda: bad.reconnects >= 2)
    finally:
        await bad.stop()


async def test_silent_user_channel_is_replaced_and_a_pinged_one_is_kept(
        bare_sim: SimHandle) -> None:
    """A user channel that hears nothing (no event, no PONG) for ``silence_timeout_s`` is
    closed and reconnected: a silently dead one would hide the tenant's own fills. One whose
    PINGs are answered is never silent, so it stays."""
    from arbiter.venues.polymarket.client import PolymarketClient

    creds = PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A})
    client = await PolymarketClient.connect(creds, bare_sim.url)
    api = client.credentials.api
    assert api is not None
    quick = Backoff(initial_s=0.01, max_s=0.02)
    silent = UserFeed(api, lambda e: None, ws_url=bare_sim.ws_url, seed=9,
                      ping_interval_s=10.0, silence_timeout_s=0.2, backoff=quick)
    pinged = UserFeed(api, lambda e: None, ws_url=bare_sim.ws_url, seed=10,
                      ping_interval_s=0.05, silence_timeout_s=0.3, backoff=quick)
    try:
        await silent.start()
        await pinged.start()
        await _until(lambda: silent.reconnects >= 2, timeout_s=3.0)
        assert pinged.reconnects == 0 and pinged.connected.is_set()
    finally:
        await silent.stop()
        await pinged.stop()
        await client.close()


async def test_firehose_reaches_the_feed_whole_and_leaves_the_books_as_the_venue_has_them(
        maker_sim: SimHandle) -> None:
    """The benchmark load (``bench.polymarket_ws`` over the wire): every frame is delivered in
    the venue's form and applied, the top-of-book checks hold, and the books end as they were."""
    import aiohttp

    m = maker_sim.market
    url = f"{maker_sim.url}/_sim/market-feed"
    async with MarketFeed([m.yes_token, m.no_token], ws_url=maker_sim.ws_url, seed=8) as feed:
        await _until(lambda: _in_parity(feed.books, m))
        frames, events = feed.stats.frames, feed.stats.events
        async with aiohttp.ClientSession(headers=maker_sim.sim.admin_headers()) as http:
            async with http.post(url, json={"action": "firehose", "count": 4000}) as resp:
                assert resp.status == 200, await resp.text()
            await _until(lambda: feed.stats.frames - frames >= 4000)
            async with http.post(url, json={"action": "firehose", "count": -1}) as resp:
                assert resp.status == 400 and "count must be" in (await resp.json())["error"]
        assert feed.stats.frames - frames == 4000 and feed.stats.events - events == 4000
        assert feed.stats.mismatches == feed.stats.malformed == feed.stats.rejected == 0
        assert _in_parity(feed.books, m)
