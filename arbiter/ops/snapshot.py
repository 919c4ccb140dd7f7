"""Offline book snapshots in the venues' own REST formats, loaded into a :class:`Detector`.

A snapshot file is ``{"kalshi": {ticker: <GET /markets/{ticker}/orderbook body>},
"polymarket": {token_id: <GET /book body>}}``. Accepting the venues' exact bodies means an
operator can paste what the venue returned (or what ``curl`` saved) and ask "was there an
arbitrage here?" without any conversion step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arbiter.core.book import BookError
from arbiter.core.detection import Detector
from arbiter.core.units import UnitError, parse_price, parse_size, parse_tick, price_from_cents

__all__ = ["SnapshotError", "kalshi_levels", "load_snapshot", "polymarket_levels"]


class SnapshotError(ValueError):
    """A snapshot that cannot be used; the message names the venue, market and field."""


Levels = list[tuple[int, int]]


def _count(value: Any) -> int:
    if isinstance(value, bool):
        raise UnitError(f"count {value!r} is not a number")
    if isinstance(value, int):
        return parse_size(str(value))
    return parse_size(value)


def kalshi_levels(body: Mapping[str, Any]) -> tuple[Levels, Levels]:
    """YES and NO bid levels from a Kalshi orderbook body, in whichever form it came.

    Order of preference follows venues.md §1.7: ``orderbook_fp``, then ``orderbook.*_dollars``,
    then legacy integer cents. Missing or null sides are empty; sort order is not trusted.
    """
    fp = body.get("orderbook_fp")
    legacy = body.get("orderbook")
    if isinstance(fp, Mapping):
        source, keys, cents = fp, ("yes_dollars", "no_dollars"), False
    elif isinstance(legacy, Mapping) and (
        legacy.get("yes_dollars") is not None or legacy.get("no_dollars") is not None
    ):
        source, keys, cents = legacy, ("yes_dollars", "no_dollars"), False
    elif isinstance(legacy, Mapping):
        source, keys, cents = legacy, ("yes", "no"), True
    else:
        raise UnitError("no 'orderbook_fp' or 'orderbook' object")
    sides: list[Levels] = []
    for key in keys:
        raw = source.get(key) or []
        if not isinstance(raw, list):
            raise UnitError(f"'{key}' is not a list")
        levels: Levels = []
        for entry in raw:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise UnitError(f"'{key}' entry {entry!r} is not a [price, count] pair")
            price = price_from_cents(entry[0]) if cents else parse_price(entry[0])
            levels.append((price, _count(entry[1])))
        sides.append(levels)
    return sides[0], sides[1]


def polymarket_levels(body: Mapping[str, Any]) -> tuple[Levels, Levels, int | None, int]:
    """Bids, asks, tick (price units, if present) and min order size from a ``/book`` body."""
    tick = parse_tick(str(body["tick_size"])) if body.get("tick_size") is not None else None
    sides: list[Levels] = []
    for key in ("bids", "asks"):
        raw = body.get(key) or []
        if not isinstance(raw, list):
            raise UnitError(f"'{key}' is not a list")
        levels: Levels = []
        for entry in raw:
            if not isinstance(entry, Mapping) or "price" not in entry or "size" not in entry:
                raise UnitError(f"'{key}' entry {entry!r} lacks price/size")
            levels.append((parse_price(str(entry["price"]), tick or 1), parse_size(str(entry["size"]))))
        sides.append(levels)
    min_size = body.get("min_order_size")
    return sides[0], sides[1], tick, parse_size(str(min_size)) if min_size is not None else 0


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
                    yes, no = kalshi_levels(body)
                    detector.kalshi_book(market).apply_snapshot(yes, no, ts_ns)
                else:
                    if not detector.tracks_token(market):
                        continue
                    bids, asks, tick, min_size = polymarket_levels(body)
                    book = detector.token_book(market)
                    book.min_order_size = min_size
                    book.apply_snapshot(bids, asks, ts_ns, tick)
            except (UnitError, BookError, KeyError, TypeError) as exc:
                raise SnapshotError(f"{where}: {exc}") from None
