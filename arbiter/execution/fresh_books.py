"""Fresh books for decisions taken without live feeds: REST snapshots of the legs' markets.

Start-up recovery runs before the feeds are subscribed, so the detector's books are empty (or,
after an actor restart in the same process, arbitrarily old). A hedge decided on them, or on
limits alone, is blind: after a ``kill -9`` the recovery of issue 23 sent three completions at
+1/+2/+3 ticks into a book that had moved away, and all were cancelled. :class:`RestQuotes` is
the executor's quote source while recovery runs: every question is answered from a REST snapshot
of that market no older than ``max_age_s`` (read again when older), and a market whose book
cannot be read is ``None`` (unknown, never an empty book).

The venues' book endpoints, read through the venue clients' own parsers:

* Kalshi ``GET /markets/{ticker}/orderbook`` (docs.kalshi.com /api-reference/market/
  get-market-orderbook): YES bids and NO bids only; a YES ask is ``1 - best NO bid`` and a NO
  ask is ``1 - best YES bid`` (a NO bid at p is an offer to sell YES at 1 - p).
* Polymarket ``GET /book?token_id=`` (docs.polymarket.com /api-reference/orderbook/
  get-order-book; ``py-clob-client-v2`` ``get_order_book``): bids and asks of one token, which
  *is* the outcome.

Recovery reads at most two books per unfinished saga, once per start; those reads go to the
venue clients directly (the tenant's rate limiter wraps orders and account reads, not books).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arbiter.core.book import Outcome
from arbiter.core.units import PRICE_SCALE, parse_price
from arbiter.venues.base import ExchangeClient, unwrap

if TYPE_CHECKING:
    from arbiter.execution.executor import QuoteSource
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.polymarket.client import PolymarketClient

__all__ = ["BookSnapshot", "NoBookReader", "RestQuotes"]

log = logging.getLogger(__name__)


class NoBookReader(TypeError):
    """The venue client has no REST book to read (a client this module does not know)."""


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Best prices of one market as read by REST; for Kalshi on the YES axis."""

    best_bid: int | None
    best_ask: int | None
    read_at: float

    def quote(self, venue: str, outcome: Outcome) -> tuple[int | None, int | None]:
        """(bid, ask) of ``outcome``: a Kalshi NO is the YES book seen from the other side."""
        if venue == "kalshi" and outcome is Outcome.NO:
            bid = None if self.best_ask is None else PRICE_SCALE - self.best_ask
            ask = None if self.best_bid is None else PRICE_SCALE - self.best_bid
            return bid, ask
        return self.best_bid, self.best_ask


class RestQuotes:
    """A :class:`~arbiter.execution.executor.QuoteSource` answered from REST book snapshots."""

    def __init__(self, clients: Mapping[str, ExchangeClient], max_age_s: float = 1.0,
                 timeout_s: float = 3.0, clock: Callable[[], float] = time.monotonic,
                 fallback: QuoteSource | None = None) -> None:
        self.clients = clients
        #: asked for markets whose client has no REST book (never for a read that failed)
        self.fallback = fallback
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.books: dict[tuple[str, str], BookSnapshot] = {}
        #: reads that failed, by (venue, market): the last error, for the recovery report
        self.errors: dict[tuple[str, str], str] = {}
        self.reads = 0

    async def refresh(self, markets: Iterable[tuple[str, str]]) -> int:
        """Read every ``(venue, market)`` now (concurrently); returns how many were read."""
        wanted = sorted(set(markets))
        got = await asyncio.gather(*(self._read(v, m) for v, m in wanted), return_exceptions=True)
        return sum(1 for g in got if isinstance(g, BookSnapshot))

    async def __call__(self, venue: str, market: str, outcome: Outcome
                       ) -> tuple[int | None, int | None] | None:
        snap = self.books.get((venue, market))
        if snap is None or self.clock() - snap.read_at > self.max_age_s:
            try:
                snap = await self._read(venue, market)
            except NoBookReader:
                return None if self.fallback is None else await self.fallback(venue, market, outcome)
        return None if snap is None else snap.quote(venue, outcome)

    async def _read(self, venue: str, market: str) -> BookSnapshot | None:
        client = self.clients.get(venue)
        try:
            if client is None:
                raise KeyError(f"no client for venue {venue!r}")
            bid, ask = await asyncio.wait_for(_best(unwrap(client), market), self.timeout_s)
        except NoBookReader:
            raise
        except Exception as exc:  # unknown: the decision sees no book, never an empty one
            self.errors[(venue, market)] = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("book of %s:%s unreadable for recovery: %s", venue, market, exc)
            self.books.pop((venue, market), None)
            return None
        self.reads += 1
        self.errors.pop((venue, market), None)
        snap = BookSnapshot(bid, ask, self.clock())
        self.books[(venue, market)] = snap
        return snap


async def _best(client: ExchangeClient, market: str) -> tuple[int | None, int | None]:
    """(best bid, best ask) of ``market`` from the venue's REST book (Kalshi: YES axis)."""
    if isinstance(client, KalshiRestClient):
        yes, no = await client.orderbook(market)
        yes_bid = max((p for p, _ in yes), default=None)
        no_bid = max((p for p, _ in no), default=None)
        return yes_bid, None if no_bid is None else PRICE_SCALE - no_bid
    if isinstance(client, PolymarketClient):
        book = await client.rest.book(market)
        bid = max((parse_price(lv.price) for lv in book.bids), default=None)
        ask = min((parse_price(lv.price) for lv in book.asks), default=None)
        return bid, ask
    raise NoBookReader(f"no REST book reader for {type(client).__name__}")
