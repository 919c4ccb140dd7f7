"""Feeds that never die and never go silently stale (issue 18), end to end against the local
Polymarket over loopback HTTP/WebSocket: malformed frames, silent stalls, quiet markets, REST
bodies of an older shape, oversize ``/books`` batches, lifecycle frames, a crashing callback."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from arbiter.core.units import parse_tick
from arbiter.venues.polymarket.parsing import MarketBooks
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.schemas import LifecycleEvent, MarketResolvedEvent
from arbiter.venues.polymarket.ws import Backoff, MarketFeed
from tests.sim.polymarket.conftest import SimHandle, place_raw
from tests.sim.polymarket.test_market_feed import _in_parity, _shape_book, _until

pytestmark = pytest.mark.integration

KILLERS = [
    "[" * 100_000,                                   # RecursionError on main
    '{"event_type": {"a": 1}, "asset_id": "1"}',     # TypeError on main
    '{"event_type": [1]}',
    '[{"event_type": "price_change", "price_changes": [1, {"x": []}]}]',
    '{"event_type": "book", "asset_id": "%s", "bids": ' + "[" * 3000 + "]" * 3000 + "}",
    "\x00\xff not json",
    '{"event_type": "last_trade_price", "asset_id": "1", "price": 0.5}',
]


async def _admin(h: SimHandle, **body: Any) -> None:
    url = f"{h.url}/_sim/market-feed"
    async with aiohttp.ClientSession() as http, http.post(
            url, json=body, headers=h.sim.admin_headers()) as resp:
        assert resp.status == 200, await resp.text()


def _feed(h: SimHandle, rest: PolymarketRest | None = None, **kw: Any) -> MarketFeed:
    m = h.market
    kw.setdefault("backoff", Backoff(initial_s=0.01, max_s=0.05))
    return MarketFeed([m.yes_token, m.no_token], ws_url=h.ws_url, rest=rest, seed=11, **kw)


async def test_malformed_frames_do_not_stop_the_feed(maker_sim: SimHandle) -> None:
    m = maker_sim.market
    async with _feed(maker_sim) as feed:
        await _until(lambda: _in_parity(feed.books, m))
        frames = [f.replace("%s", m.yes_token) for f in KILLERS]
        await _admin(maker_sim, action="raw", frames=frames)
        await _until(lambda: feed.stats.malformed >= len(KILLERS))
        _shape_book(maker_sim, 20)  # the venue moves on: the book must follow
        await _until(lambda: _in_parity(feed.books, m) and not feed.books.stale)
        errors = feed.stats.errors
        assert errors["nesting"] == 2 and errors["schema"] >= 3 and errors["json"] == 1
        assert feed.stats.reconnects == 0 and feed.stats.restarts == 0
        assert all(not t.done() for t in feed._tasks)  # every task still running


async def test_silent_stall_is_found_by_the_watchdog_and_resubscribed(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    rest = PolymarketRest(bare_sim.url)
    try:
        async with _feed(bare_sim, rest, quiet_after_s=0.3, watchdog_interval_s=0.05) as feed:
            _shape_book(bare_sim, 6)
            await _until(lambda: _in_parity(feed.books, m))
            await _admin(bare_sim, action="stall", token_ids=[m.yes_token, m.no_token])
            _shape_book(bare_sim, 10, start=20)  # the venue moves; this subscription says nothing
            await asyncio.sleep(0.05)
            assert not _in_parity(feed.books, m)
            await _until(lambda: feed.stats.stalls >= 1 and _in_parity(feed.books, m))
            assert feed.stats.resubscribes >= 1
            await _until(lambda: all(not c.stalled for c in bare_sim.sim.market_conns))
            # delivering again over the WebSocket: parity without waiting for the watchdog
            feed.quiet_after_s = None
            _shape_book(bare_sim, 8, start=50)
            await _until(lambda: _in_parity(feed.books, m), timeout_s=2.0)
            assert feed.stats.reconnects == 0
    finally:
        await rest.close()


async def test_quiet_market_is_confirmed_not_stalled(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    rest = PolymarketRest(bare_sim.url)
    try:
        async with _feed(bare_sim, rest, quiet_after_s=0.2, watchdog_interval_s=0.05) as feed:
            _shape_book(bare_sim, 6)
            await _until(lambda: _in_parity(feed.books, m))
            book = feed.books.book(m.yes_token)
            assert book is not None
            first = book.ts_ns
            await _until(lambda: feed.stats.quiet_checks >= 2 and book.ts_ns > first)
            assert feed.stats.stalls == 0 and not feed.books.stale
    finally:
        await rest.close()


async def test_resync_survives_older_rest_shape_and_oversize_batches(bare_sim: SimHandle) -> None:
    """The resync path alone (no WebSocket, so nothing else can repair the books)."""
    m = bare_sim.market
    _shape_book(bare_sim, 6)
    rest = PolymarketRest(bare_sim.url)
    try:
        await _admin(bare_sim, action="books_shape", shape="2024")
        await _admin(bare_sim, action="books_limit", limit=1)
        feed = _feed(bare_sim, rest, books_chunk=2, quiet_after_s=None)
        feed.books.stale.update([m.yes_token, m.no_token])
        await feed.resync(force=True)  # 2 tokens in one POST: 400 "Payload exceeds the limit"
        refused = {k: v for k, v in feed.stats.errors.items() if k.startswith("rest_")}
        assert sum(refused.values()) == 1, feed.stats.errors
        assert feed.books.stale == {m.yes_token, m.no_token}  # kept stale, retried later
        feed.books_chunk = 1
        await feed.resync(force=True)  # one token per POST, in the 2024 shape: both resync
        assert feed.stats.resyncs == 2 and not feed.books.stale
        assert _in_parity(feed.books, m) and feed.stats.malformed == 0
    finally:
        await rest.close()


async def test_lifecycle_frames_reach_the_hook(maker_sim: SimHandle) -> None:
    m = maker_sim.market
    seen: list[LifecycleEvent] = []
    books = MarketBooks(on_lifecycle=seen.append)
    async with _feed(maker_sim, books=books) as feed:
        await _until(lambda: _in_parity(feed.books, m))
        maker_sim.exchange.set_tick(m, parse_tick("0.0025"), 0)
        yes = feed.books.book(m.yes_token)
        await _until(lambda: yes is not None and yes.tick == 25)
        bid, ask = m.top(m.yes_token)
        assert bid is not None and ask is not None and ask - bid > 25
        # a bid inside the spread, on the new 0.0025 grid: the top moves, best_bid_ask arrives
        place_raw(maker_sim.exchange, m, m.yes_token, "BUY", bid + 25, 1_000_000)
        await _until(lambda: feed.stats.tops > 0 and yes is not None
                     and yes.best_bid == bid + 25 and _in_parity(feed.books, m))
        assert feed.stats.mismatches == 0
        place_raw(maker_sim.exchange, m, m.yes_token, "BUY", 9900, 1_000_000)  # takes an ask
        await _until(lambda: m.yes_token in feed.books.trades)
        trade = feed.books.trades[m.yes_token]
        assert trade.size == 1_000_000 and trade.side in ("BUY", "SELL")
        assert trade.fee_rate_bps == m.fee_bps and trade.ts_ms is not None
        await _admin(maker_sim, action="new_market", token_id=m.yes_token)
        await _admin(maker_sim, action="resolve", token_id=m.yes_token, winner=m.no_token)
        await _until(lambda: feed.books.halted == {m.yes_token, m.no_token})
        resolved = [e for e in seen if isinstance(e, MarketResolvedEvent)]
        assert resolved and resolved[0].winner == m.no_token
        assert {type(e).__name__ for e in seen} >= {
            "TickSizeChangeEvent", "NewMarketEvent", "MarketResolvedEvent"}
        assert feed.stats.malformed == 0


async def test_supervisor_restarts_a_task_that_raised(maker_sim: SimHandle) -> None:
    m = maker_sim.market
    calls = {"n": 0}

    def flaky(_token: str) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("a bug downstream of the feed")

    books = MarketBooks(on_change=flaky)
    async with _feed(maker_sim, books=books) as feed:
        await _until(lambda: calls["n"] >= 2)  # both snapshots
        _shape_book(maker_sim, 4)  # the third change raises inside the connection task
        await _until(lambda: feed.stats.restarts == 1)
        _shape_book(maker_sim, 10, start=10)
        await _until(lambda: _in_parity(feed.books, m) and not feed.books.stale)
        assert calls["n"] > 3
