"""The one feed builder: both venues' WebSocket feeds over one set of books, for the arbiter, the
monitors and the recorder alike, with the Kalshi books held back until their sequence is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.app.build import kalshi_config, kalshi_signer
from arbiter.app.config import EngineConfig
from arbiter.core.book import KalshiBook, TokenBook
from arbiter.core.detection import Detector
from arbiter.execution.lifecycle import LifecycleGuard
from arbiter.venues.kalshi.ws import KalshiFeed
from arbiter.venues.polymarket.parsing import MarketBooks
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.schemas import LifecycleEvent
from arbiter.venues.polymarket.ws import MarketFeed

__all__ = ["VENUES", "Feeds", "build_feeds", "confirm_sequenced", "detector_books", "feed_summary",
           "start_feeds"]

log = logging.getLogger(__name__)


VENUES = ("kalshi", "polymarket")


@dataclass
class Feeds:
    """The two venue feeds of one process, started and stopped together."""

    kalshi: KalshiFeed
    polymarket: MarketFeed
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def books(self) -> MarketBooks:
        """The Polymarket books (the Kalshi feed's are ``kalshi.books``)."""
        return self.polymarket.books

    def book(self, market: str) -> KalshiBook | TokenBook | None:
        """The book of a Kalshi ticker or a Polymarket token, whichever ``market`` is."""
        got: KalshiBook | TokenBook | None = self.kalshi.books.get(market)
        return got if got is not None else self.polymarket.books.book(market)

    async def start(self, venues: tuple[str, ...] = VENUES) -> None:
        if "kalshi" in venues:
            loop = asyncio.get_running_loop()
            self.tasks.append(loop.create_task(self.kalshi.run()))
            self.tasks.append(loop.create_task(confirm_sequenced(self.kalshi)))
        if "polymarket" in venues:
            await self.polymarket.start()

    async def stop(self) -> None:
        self.kalshi.stop()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.polymarket.stop()
        if self.polymarket.rest is not None:
            await self.polymarket.rest.close()


def build_feeds(
    config: EngineConfig,
    kalshi_books: Mapping[str, KalshiBook] | None,
    poly_books: MarketBooks,
    on_kalshi: Callable[[KalshiBook], None] | None,
    lifecycle: LifecycleGuard | None = None,
) -> Feeds:
    """Both feeds for the pairs' markets, not started. ``kalshi_books`` (if given) replaces the
    Kalshi feed's own books and ``poly_books`` is the Polymarket feed's, so frames are applied
    straight into the caller's books (the detector's, the recorder's) with no copy and no hop."""
    pairs = config.pairs
    tenant = config.tenants[0]
    kfeed = KalshiFeed(
        kalshi_config(config, tenant), kalshi_signer(tenant),
        [p.kalshi_ticker for p in pairs], grids={p.kalshi_ticker: p.kalshi_price_grid for p in pairs},
        fees={p.kalshi_ticker: p.kalshi_fees for p in pairs},
        on_book=on_kalshi,
        on_lifecycle=lifecycle.on_update if lifecycle is not None else None,
        on_lifecycle_error=lifecycle.on_error if lifecycle is not None else None,
    )
    if kalshi_books is not None:
        kfeed.books.update(kalshi_books)
    tokens = [t for p in pairs for t in (p.polymarket_yes_token, p.polymarket_no_token)]
    pfeed = MarketFeed(
        tokens, ws_url=config.endpoints.polymarket_ws,
        rest=PolymarketRest(config.endpoints.polymarket_rest), books=poly_books,
    )
    return Feeds(kfeed, pfeed)


async def start_feeds(
    config: EngineConfig,
    kalshi_books: Mapping[str, KalshiBook] | None,
    poly_books: MarketBooks,
    on_kalshi: Callable[[KalshiBook], None] | None,
    venues: tuple[str, ...] = VENUES,
    lifecycle: LifecycleGuard | None = None,
) -> Feeds:
    """:func:`build_feeds`, started for ``venues``."""
    feeds = build_feeds(config, kalshi_books, poly_books, on_kalshi, lifecycle)
    await feeds.start(venues)
    return feeds


def detector_books(
    detector: Detector,
    on_token: Callable[[str], None],
    on_lifecycle: Callable[[LifecycleEvent], None] | None = None,
) -> MarketBooks:
    """The Polymarket feed's books *are* the detector's (no copy, no hop), and a token being
    resynced (``stale``) or of a resolved market (``halted``) is never traded (issue 18)."""
    pbooks = MarketBooks(on_change=on_token, on_lifecycle=on_lifecycle)
    for pair in detector.pairs:
        for token in (pair.polymarket_yes_token, pair.polymarket_no_token):
            pbooks.books[token] = detector.token_book(token)
    detector.block_when(pbooks.stale)
    detector.block_when(pbooks.halted)
    return pbooks


async def confirm_sequenced(feed: KalshiFeed, interval_s: float = 1.0) -> None:
    """Stamp Kalshi books that are known correct *now*: in ``feed.valid`` (snapshot plus
    gap-free sequence numbers) on a connected feed (which reconnects, and clears ``valid``, after
    ``idle_timeout_s`` without data). A book's ``ts_ns`` is what the detector's
    ``max_book_age_ns`` reads; without this a quiet but exact Kalshi book would age out, and a
    book of a dropped subscription stops being stamped and ages out within the budget."""
    idle_ns = int(2 * interval_s * 1e9)
    while True:
        await asyncio.sleep(interval_s)
        if not feed.connected.is_set():
            continue
        now = time.time_ns()
        for ticker in list(feed.valid):
            book = feed.books.get(ticker)
            if book is None or book.ts_ns >= now:
                continue
            was = book.ts_ns
            book.ts_ns = now
            if now - was > idle_ns and feed.on_book is not None:
                # it may have been refused as too old (a snapshot carries the market's last
                # update time): detection looks again now that it is known correct
                feed.on_book(book)


def feed_summary(books: MarketBooks | None) -> dict[str, Any] | None:
    if books is None:
        return None
    st = books.stats
    return {"stale": len(books.stale), "halted": len(books.halted), "errors": dict(st.errors),
            "stalls": st.stalls, "quiet_checks": st.quiet_checks, "resyncs": st.resyncs,
            "reconnects": st.reconnects, "restarts": st.restarts, "mismatches": st.mismatches}

