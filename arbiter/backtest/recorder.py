"""Recording: any async source of normalised rows into the Parquet event store (+ SQLite trades).

A *source* is an async iterator of rows ``(ts_ns, venue, market, kind, side, price, size)``
(:mod:`arbiter.backtest.events` codes). Sources exist for the synthetic generator (paced in wall
time, for demos and tests) and for anything that keeps core books up to date (the venue WS feeds,
the local simulators' feeds): :class:`BookTap` turns "this book changed" callbacks into exact
``LEVEL`` rows by diffing each book against what it last recorded, so recording needs no venue-
specific code beyond the feed's change hook.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arbiter.backtest.events import (
    KALSHI,
    KIND_CLEAR,
    KIND_LEVEL,
    KIND_TRADE,
    POLYMARKET,
    VENUES,
)
from arbiter.backtest.storage import EngineStore, EventWriter
from arbiter.backtest.synthetic import SyntheticConfig, generate_chunks
from arbiter.core.book import KalshiBook, TokenBook
from arbiter.core.pairs import Pair

if TYPE_CHECKING:  # the engine's feeds are imported where they are built
    from arbiter.app.feeds import Feeds

__all__ = ["BookTap", "RecordStats", "Row", "record", "synthetic_source"]

Row = tuple[int, int, str, int, int, int, int]


@dataclass(slots=True)
class RecordStats:
    rows: int = 0
    trades: int = 0
    files: int = 0
    max_buffered: int = 0


async def record(
    source: AsyncIterator[Row],
    writer: EventWriter,
    store: EngineStore | None = None,
    duration_s: float | None = None,
    max_rows: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RecordStats:
    """Drain ``source`` into ``writer`` until it ends, ``duration_s`` passes or ``max_rows``.

    Trade prints also go to ``store.market_trades`` (batched). The writer is rotated at the end,
    so every row received is in a closed file when this returns, including on cancellation.
    """
    stats = RecordStats()
    deadline = None if duration_s is None else clock() + duration_s
    trades: list[dict[str, int | str]] = []
    iterator = aiter(source)
    try:
        while max_rows is None or stats.rows < max_rows:
            timeout = None if deadline is None else deadline - clock()
            if timeout is not None and timeout <= 0:
                break
            try:
                row = await asyncio.wait_for(anext(iterator), timeout)
            except (StopAsyncIteration, TimeoutError):
                break
            writer.add(*row)
            stats.rows += 1
            if row[3] == KIND_TRADE and store is not None:
                trades.append({"ts_ns": row[0], "venue": VENUES[row[1]], "market": row[2],
                               "side": row[4], "price": row[5], "size": row[6]})
                if len(trades) >= 1000:
                    store.insert("market_trades", trades)
                    trades.clear()
            if row[3] == KIND_TRADE:
                stats.trades += 1
    finally:
        if trades and store is not None:
            store.insert("market_trades", trades)
        writer.rotate()
        stats.files = writer.files_closed
        stats.max_buffered = writer.max_buffered
    return stats


async def synthetic_source(config: SyntheticConfig, speed: float = 0.0) -> AsyncIterator[Row]:
    """The synthetic stream as a live source; ``speed`` > 0 paces it at that many x real time."""
    from arbiter.backtest.storage import batch_rows

    start_wall = time.monotonic()
    start_ts: int | None = None
    # generated chunk by chunk as it is drained: a long synthetic recording stays in bounded memory
    rows = itertools.chain.from_iterable(batch_rows(c) for c in generate_chunks(config))
    for n, row in enumerate(rows):
        if start_ts is None:
            start_ts = row[0]
        if speed > 0:
            due = (row[0] - start_ts) / 1e9 / speed
            lag = due - (time.monotonic() - start_wall)
            if lag > 0:
                await asyncio.sleep(lag)
        elif n % 1000 == 0:
            await asyncio.sleep(0)
        yield row


class BookTap:
    """Turns book-change callbacks into ``LEVEL`` rows (the exact diff since the last call).

    ``get_book(market)`` returns the core book a feed maintains. The first change of a market
    records a ``CLEAR`` plus its full depth (a snapshot), later ones only the levels that moved.
    Rows go to an asyncio queue that :meth:`rows` drains; call :meth:`changed` from the feed's
    on-change hook on the event loop thread.
    """

    def __init__(self, get_book: Callable[[str], KalshiBook | TokenBook | None],
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.get_book = get_book
        self.clock_ns = clock_ns
        self.queue: asyncio.Queue[Row] = asyncio.Queue()
        self._last: dict[str, tuple[dict[int, int], dict[int, int]]] = {}

    def changed(self, market: str) -> None:
        book = self.get_book(market)
        if book is None:
            return
        now = self.clock_ns()
        if isinstance(book, KalshiBook):
            venue = KALSHI
            ladders = (dict(book.yes_bids), dict(book.no_bids))
        else:
            venue = POLYMARKET
            ladders = (dict(book.bids), dict(book.asks))
        last = self._last.get(market)
        put = self.queue.put_nowait
        if last is None:
            put((now, venue, market, KIND_CLEAR, 0, 0, 0))
            last = ({}, {})
        for side, (old, new) in enumerate(zip(last, ladders, strict=True)):
            for price in sorted(old.keys() | new.keys()):
                size = new.get(price, 0)
                if old.get(price, 0) != size:
                    put((now, venue, market, KIND_LEVEL, side, price, size))
        self._last[market] = ladders

    def trade(self, venue: int, market: str, side: int, price: int, size: int) -> None:
        self.queue.put_nowait((self.clock_ns(), venue, market, KIND_TRADE, side, price, size))

    async def rows(self) -> AsyncIterator[Row]:
        while True:
            yield await self.queue.get()


def build_feeds(config_path: str, on_change: Callable[[str], None],
                kalshi_books: Mapping[str, KalshiBook] | None = None,
                token_books: Mapping[str, TokenBook] | None = None) -> tuple[Feeds, list[Pair]]:
    """The engine's feeds (:func:`arbiter.app.feeds.build_feeds`, not started) for every pair of
    the engine config at ``config_path`` (its endpoints: the real venues or the local
    simulators). ``on_change(market)`` runs after each applied frame. Pre-made books (e.g. a
    detector's) can be handed in; the feeds then update those in place.
    """
    from arbiter.app import feeds as app_feeds
    from arbiter.app.config import load_config
    from arbiter.venues.polymarket.parsing import MarketBooks

    cfg = load_config(config_path)
    mbooks = MarketBooks(on_change=on_change)
    if token_books:
        mbooks.books.update(token_books)
    feeds = app_feeds.build_feeds(cfg, kalshi_books, mbooks,
                                  on_kalshi=lambda book: on_change(book.ticker))
    return feeds, list(cfg.pairs)


def venue_source(config_path: str) -> tuple[AsyncIterator[Row], Callable[[], Awaitable[None]]]:
    """Rows from the venues' WebSocket feeds (real or the local simulators, by the config's
    endpoints) for every pair of the engine config; returns (source, async closer).

    Book changes arrive through the feeds' own hooks (``KalshiFeed.on_book``,
    ``MarketBooks.on_change``) and are diffed by :class:`BookTap`.
    """
    holder: dict[str, BookTap] = {}

    def changed(market: str) -> None:
        holder["tap"].changed(market)

    feeds, _ = build_feeds(config_path, changed)
    holder["tap"] = tap = BookTap(feeds.book)

    async def rows() -> AsyncIterator[Row]:
        await feeds.start()
        async for row in tap.rows():
            yield row

    return rows(), feeds.stop
