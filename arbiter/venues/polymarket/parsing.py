"""Market-channel frames into core :class:`~arbiter.core.book.TokenBook` objects (pure, no I/O).

The market channel has no sequence numbers (venues.md §2.8), so the only ways to notice a lost or
reordered update are the ``best_bid``/``best_ask`` the venue attaches to each ``price_change``, a
change for a token we hold no snapshot of, or an update the book refuses (crossed, off-grid). Any
of those marks the token *stale*: its book is kept but flagged, and the transport resyncs it from a
fresh snapshot. Counting (frames, events, malformed, mismatches) lives here so that the feed, the
bench and the tests all read the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from arbiter.core.book import BookError, Ladder, TokenBook
from arbiter.core.units import (
    POLYMARKET_TICKS,
    UnitError,
    parse_price,
    parse_size,
    parse_tick,
)
from arbiter.venues.polymarket.schemas import (
    MARKET_EVENT_TYPES,
    BestBidAskEvent,
    BookEvent,
    LastTradePriceEvent,
    Level,
    MarketEvent,
    PriceChange,
    PriceChangeEvent,
    TickSizeChangeEvent,
)

__all__ = ["FeedStats", "MarketBooks", "parse_levels"]

_FRAME_DECODER = msgspec.json.Decoder(list[MarketEvent] | MarketEvent)
_TICKS_COARSE_FIRST = sorted(POLYMARKET_TICKS.values(), reverse=True)


@dataclass(slots=True)
class FeedStats:
    frames: int = 0
    events: int = 0
    malformed: int = 0
    ignored: int = 0
    mismatches: int = 0
    rejected: int = 0
    resyncs: int = 0
    reconnects: int = 0
    pongs: int = 0


#: Memo of wire strings already parsed: a market's prices are a few hundred distinct strings and
#: sizes repeat a lot, so the exact (but pure-Python) parse runs once per distinct string.
_PRICES: dict[str, int] = {}
_SIZES: dict[str, int] = {}
_MEMO_LIMIT = 100_000


def wire_price(text: str) -> int:
    value = _PRICES.get(text)
    if value is None:
        value = parse_price(text)
        if len(_PRICES) < _MEMO_LIMIT:
            _PRICES[text] = value
    return value


def wire_size(text: str) -> int:
    value = _SIZES.get(text)
    if value is None:
        value = parse_size(text)
        if len(_SIZES) >= _MEMO_LIMIT:
            _SIZES.clear()
        _SIZES[text] = value
    return value


def parse_levels(levels: Iterable[Level]) -> list[tuple[int, int]]:
    """Wire levels to (Price, Size); raises :class:`UnitError` on anything inexact."""
    return [(wire_price(lv.price), wire_size(lv.size)) for lv in levels]


def _grid_for(levels: list[tuple[int, int]], current: int) -> int:
    """The current tick if every level sits on it, else the coarsest legal tick that fits.

    A missed ``tick_size_change`` must not make a good snapshot unusable.
    """
    if all(price % current == 0 for price, _ in levels):
        return current
    for tick in _TICKS_COARSE_FIRST:
        if all(price % tick == 0 for price, _ in levels):
            return tick
    return 1


def _top(text: str | None, empty: int) -> int | bool | None:
    """``best_bid``/``best_ask`` to a price; ``None`` for an empty side (bid "0", ask "1");
    ``False`` when the field is absent."""
    if not text:
        return False
    try:
        return wire_price(text)
    except UnitError:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise UnitError(f"top of book {text!r} is not a number") from None
        if value == empty:
            return None
        raise


class MarketBooks:
    """The books of every subscribed token, updated from market-channel frames."""

    def __init__(self, on_change: Callable[[str], None] | None = None) -> None:
        self.books: dict[str, TokenBook] = {}
        self.market_of: dict[str, str] = {}
        self.last_trade: dict[str, int] = {}
        self.stale: set[str] = set()
        self.stats = FeedStats()
        self.on_change = on_change

    def book(self, asset_id: str) -> TokenBook | None:
        return self.books.get(asset_id)

    def mark_stale(self, asset_id: str) -> None:
        self.stale.add(asset_id)

    # -- frames ---------------------------------------------------------------------------
    def apply_frame(self, data: bytes | str, now_ns: int) -> int:
        """Decode and apply one WebSocket text frame; returns the number of events applied."""
        self.stats.frames += 1
        try:
            decoded = _FRAME_DECODER.decode(data)
        except msgspec.ValidationError:
            return self._apply_tolerant(data, now_ns)
        except msgspec.DecodeError:
            self.stats.malformed += 1
            return 0
        if isinstance(decoded, list):
            applied = 0
            for event in decoded:
                applied += self.apply_event(event, now_ns)
            return applied
        return self.apply_event(decoded, now_ns)

    def _apply_tolerant(self, data: bytes | str, now_ns: int) -> int:
        """Slow path: a frame with an unknown event type or a bad field somewhere."""
        try:
            raw = msgspec.json.decode(data)
        except msgspec.DecodeError:
            self.stats.malformed += 1
            return 0
        items: list[Any] = raw if isinstance(raw, list) else [raw]
        applied = 0
        for item in items:
            kind = item.get("event_type") if isinstance(item, dict) else None
            if kind not in MARKET_EVENT_TYPES:
                if isinstance(item, dict) and isinstance(kind, str):
                    self.stats.ignored += 1  # new_market, market_resolved, ...
                else:
                    self.stats.malformed += 1
                continue
            try:
                event = msgspec.convert(item, MarketEvent)
            except msgspec.ValidationError:
                self.stats.malformed += 1
                asset = item.get("asset_id")
                if isinstance(asset, str) and asset in self.books:
                    self.stale.add(asset)
                continue
            applied += self.apply_event(event, now_ns)
        return applied

    # -- events ---------------------------------------------------------------------------
    def apply_event(self, event: MarketEvent, now_ns: int) -> int:
        self.stats.events += 1
        try:
            if isinstance(event, PriceChangeEvent):
                self._price_change(event, now_ns)
            elif isinstance(event, BookEvent):
                self._snapshot(event, now_ns)
            elif isinstance(event, TickSizeChangeEvent):
                self._tick(event, now_ns)
            elif isinstance(event, LastTradePriceEvent):
                self.last_trade[event.asset_id] = wire_price(event.price)
                return 1
            elif isinstance(event, BestBidAskEvent):
                self._check_top(event.asset_id, event.best_bid, event.best_ask)
                return 1
        except UnitError:
            self.stats.malformed += 1
            asset = getattr(event, "asset_id", "")
            if asset in self.books:
                self.stale.add(asset)
            return 0
        return 1

    def _snapshot(self, event: BookEvent, now_ns: int) -> None:
        asset = event.asset_id
        bids = parse_levels(event.bid_levels())
        asks = parse_levels(event.ask_levels())
        book = self.books.get(asset)
        if book is None:
            book = self.books[asset] = TokenBook(asset)
        if event.market:
            self.market_of[asset] = event.market
        grid = _grid_for(bids + asks, book.tick)
        try:
            book.apply_snapshot(bids, asks, now_ns, tick=grid)
        except BookError:
            self.stats.rejected += 1
            self.stale.add(asset)
            return
        self.stale.discard(asset)
        if self.on_change is not None:
            self.on_change(asset)

    def _price_change(self, event: PriceChangeEvent, now_ns: int) -> None:
        changes: list[PriceChange] = event.price_changes or event.changes or []
        if not changes:
            return
        default = event.asset_id
        first = changes[0].asset_id or default
        if len(changes) == 1 or all((c.asset_id or default) == first for c in changes):
            groups: dict[str, list[PriceChange]] = {first: changes}  # the common case
        else:
            groups = {}
            for change in changes:
                groups.setdefault(change.asset_id or default, []).append(change)
        for asset, group in groups.items():
            book = self.books.get(asset)
            if book is None:
                self.stats.mismatches += 1  # an update for a token we hold no snapshot of
                self.stale.add(asset)
                continue
            self._apply_changes(asset, book, group, now_ns)

    def _apply_changes(
        self, asset: str, book: TokenBook, group: list[PriceChange], now_ns: int
    ) -> None:
        """Apply one token's level changes as a unit: all of them, or none.

        Sizes are absolute, so applying in order is right even when a level repeats; the
        crossed-book check runs once on the result, because a batch that moves the market may
        cross half-way through.
        """
        bids, asks = book.bids, book.asks
        staged: list[tuple[Ladder, int, int]] = []
        for change in group:
            side = change.side
            if side == "BUY":
                ladder = bids
            elif side == "SELL":
                ladder = asks
            else:
                raise UnitError(f"price_change side {side!r} is neither BUY nor SELL")
            try:
                index = ladder.index_of(wire_price(change.price))
            except BookError:  # off the grid we know: a missed tick change, or a bad frame
                self.stats.rejected += 1
                self.stale.add(asset)
                return
            staged.append((ladder, index, wire_size(change.size)))
        undo: list[tuple[Ladder, int, int]] = []
        for ladder, index, size in staged:
            undo.append((ladder, index, ladder.set_index(index, size)))
        if bids.count and asks.count and bids.best >= asks.best:
            for ladder, index, old in reversed(undo):
                ladder.set_index(index, old)
            self.stats.rejected += 1
            self.stale.add(asset)
            return
        book.ts_ns = now_ns
        last = group[-1]
        if last.best_bid is not None or last.best_ask is not None:
            self._check_top(asset, last.best_bid, last.best_ask)
        if self.on_change is not None:
            self.on_change(asset)

    def _check_top(self, asset: str, best_bid: str | None, best_ask: str | None) -> None:
        book = self.books.get(asset)
        if book is None:
            return
        bid = _top(best_bid, 0)
        ask = _top(best_ask, 1)
        if (bid is not False and bid != book.best_bid) or (
            ask is not False and ask != book.best_ask
        ):
            self.stats.mismatches += 1
            self.stale.add(asset)

    def _tick(self, event: TickSizeChangeEvent, now_ns: int) -> None:
        tick = parse_tick(event.new_tick_size)
        book = self.books.get(event.asset_id)
        if book is None:
            return
        try:
            book.set_tick(tick, now_ns)
        except BookError:
            # resting levels off the new grid: keep an empty book on the new grid until resync
            book.apply_snapshot([], [], now_ns, tick=tick)
            self.stale.add(event.asset_id)
        if self.on_change is not None:
            self.on_change(event.asset_id)
