"""Offline book snapshots in the venues' own REST formats, loaded into a :class:`Detector`.

A snapshot file is ``{"kalshi": {ticker: <GET /markets/{ticker}/orderbook body>},
"polymarket": {token_id: <GET /book body>}}``. Accepting the venues' exact bodies means an
operator can paste what the venue returned (or what ``curl`` saved) and ask "was there an
arbitrage here?" without any conversion step. The bodies go through the venue packages' own
readers (the ones the REST clients use), so a file is accepted offline exactly when the live
client would accept the same answer, and refused with the same one-line reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arbiter.core.book import BookError
from arbiter.core.detection import Detector
from arbiter.core.units import UnitError
from arbiter.venues.kalshi.wire import WireError, orderbook_from_wire
from arbiter.venues.polymarket.parsing import book_from_rest

__all__ = ["SnapshotError", "load_snapshot"]


class SnapshotError(ValueError):
    """A snapshot that cannot be used; the message names the venue, market and field."""


def load_snapshot(detector: Detector, document: Any, ts_ns: int) -> None:
    """Apply every book in ``document`` that a pair of ``detector`` tracks; others are ignored."""
    if not isinstance(document, Mapping):
        raise SnapshotError("snapshot must be a JSON object with 'kalshi' and 'polymarket' keys")
    unknown = sorted(set(document) - {"kalshi", "polymarket"})
    if unknown:
        raise SnapshotError(f"snapshot has unknown top-level key '{unknown[0]}'")
    for venue in ("kalshi", "polymarket"):
        books = document.get(venue, {})
        if not isinstance(books, Mapping):
            raise SnapshotError(f"snapshot '{venue}' must map market ids to book bodies")
        for market, body in books.items():
            where = f"{venue} book '{market}'"
            if not isinstance(body, Mapping):
                raise SnapshotError(f"{where}: body must be a JSON object")
            try:
                if venue == "kalshi":
                    if not detector.tracks_kalshi(market):
                        continue
                    yes, no = orderbook_from_wire(body)
                    detector.kalshi_book(market).apply_snapshot(yes, no, ts_ns)
                else:
                    if not detector.tracks_token(market):
                        continue
                    rest = book_from_rest(body)
                    book = detector.token_book(market)
                    # the larger of the pair's stated minimum and the snapshot's: a snapshot
                    # without one (0) must not lower what the market requires
                    book.min_order_size = max(book.min_order_size, rest.min_order_size)
                    book.apply_snapshot(rest.bids, rest.asks, ts_ns, rest.tick)
            except (WireError, UnitError, BookError) as exc:
                # the venue parsers' one-line messages, prefixed with where in the file
                raise SnapshotError(f"{where}: {exc}") from None
