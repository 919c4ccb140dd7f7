"""Market-channel frames into core :class:`~arbiter.core.book.TokenBook` objects (pure, no I/O).

The market channel has no sequence numbers (venues.md §2.8), so the only ways to notice a lost or
reordered update are the ``best_bid``/``best_ask`` the venue attaches to each ``price_change``, a
change for a token we hold no snapshot of, or an update the book refuses (crossed, off-grid). Any
of those marks the token *stale*: its book is kept but flagged, and the transport resyncs it from a
fresh snapshot. Counting (frames, events, malformed, mismatches) lives here so that the feed, the
bench and the tests all read the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from arbiter.core.book import BookError, Ladder, TokenBook
from arbiter.core.units import (
    POLYMARKET_TICKS,
    UnitError,
    check_price,
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
    LifecycleEvent,
    MarketEvent,
    MarketResolvedEvent,
    NewMarketEvent,
    PriceChange,
    PriceChangeEvent,
    TickSizeChangeEvent,
)

__all__ = [
    "CONTAINED",
    "FeedStats",
    "LastTrade",
    "MarketBooks",
    "ParseError",
    "RestBook",
    "book_from_rest",
    "count_error",
    "error_kind",
    "parse_levels",
]

log = logging.getLogger(__name__)

#: Everything a hostile or garbled frame can raise from decoding and applying it: msgspec's
#: decode/validation errors, ``RecursionError`` on deeply nested JSON, ``TypeError`` on a
#: non-hashable ``event_type``, our own unit/book refusals (``UnitError`` is a ``ValueError``).
#: A frame is *data*: none of these may end the connection task (issue 18).
CONTAINED: tuple[type[BaseException], ...] = (
    msgspec.MsgspecError, RecursionError, ValueError, TypeError, KeyError, IndexError,
    AttributeError, OverflowError, BookError,
)

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
    #: malformed input by kind (``error_kind``): what the operator reads to know *what* is wrong
    errors: dict[str, int] = field(default_factory=dict)
    #: tokens found stale by the watchdog (quiet past the budget) and by REST cross-checks
    quiet_checks: int = 0
    stalls: int = 0
    resubscribes: int = 0
    #: connection/resync tasks restarted by the supervisor after an unexpected exception
    restarts: int = 0
    lifecycle: int = 0
    #: ``best_bid_ask`` events checked against the local book
    tops: int = 0


def error_kind(exc: BaseException) -> str:
    """A short, stable name for what was wrong with a frame (a metric label, a log key)."""
    if isinstance(exc, RecursionError):
        return "nesting"
    if isinstance(exc, msgspec.ValidationError | TypeError | KeyError | AttributeError):
        return "schema"  # before DecodeError: msgspec's ValidationError is a DecodeError
    if isinstance(exc, msgspec.DecodeError):
        return "json"
    if isinstance(exc, BookError):
        return "book"
    if isinstance(exc, UnitError | ValueError | OverflowError):
        return "value"
    return type(exc).__name__


def count_error(
    stats: FeedStats, kind: str, detail: object, data: bytes | str | None, malformed: bool = True
) -> None:
    """Count one refused input and log it: the first of each kind, then at 10, 100, 1000, ...

    Rate-limited by count, not by clock, so that this stays pure and a flood of one bad frame
    costs one dict update per frame, not one log line. ``malformed=False`` for failures that are
    not the venue's data (a REST call that did not answer).
    """
    if malformed:
        stats.malformed += 1
    n = stats.errors.get(kind, 0) + 1
    stats.errors[kind] = n
    if _is_power_of_ten(n):
        shown = ""
        if data is not None:
            head = data[:160]
            shown = head if isinstance(head, str) else bytes(head).decode("utf-8", "replace")
        log.warning("polymarket market data: refused %s input #%d (%s): %.160s",
                    kind, n, str(detail)[:200], shown)


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


@dataclass(frozen=True, slots=True)
class LastTrade:
    """A ``last_trade_price`` event in exact units; ``fee_rate_bps`` is ``None`` when absent
    (unknown, never zero)."""

    price: int
    size: int | None
    side: str
    fee_rate_bps: int | None
    ts_ms: int | None


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


Levels = list[tuple[int, int]]


class ParseError(UnitError):
    """A Polymarket book we cannot use, with one line naming the field and what is wrong.

    A :class:`UnitError` so that the feed, which already counts bad values as malformed, needs no
    second ``except`` for a bad shape.
    """


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _level(price: object, size: object, tick: int, side: str, index: int) -> tuple[int, int]:
    """One level's wire strings to (Price, Size): on ``tick``, inside (0, 1), size positive.

    Shared by the market channel's ``book`` frames and the REST ``/book`` body so both refuse the
    same levels. Non-strings are refused rather than converted: a JSON number would have passed
    through a binary float.
    """
    try:
        if not isinstance(price, str) or not isinstance(size, str):
            raise UnitError(f"price and size must be decimal strings, got {price!r}, {size!r}")
        value = wire_price(price)
        if tick != 1:
            check_price(value, tick, price)
        amount = wire_size(size)
    except UnitError as exc:
        raise ParseError(f"{side}[{index}]: {exc}") from None
    if amount <= 0:
        raise ParseError(f"{side}[{index}]: size {size!r} is not positive")
    return value, amount


def parse_levels(levels: Iterable[Level], tick: int = 1, side: str = "levels") -> Levels:
    """Decoded wire levels to (Price, Size); raises :class:`ParseError` on anything inexact."""
    return [_level(lv.price, lv.size, tick, side, i) for i, lv in enumerate(levels)]


@dataclass(frozen=True, slots=True)
class RestBook:
    """A ``GET /book`` body in core units."""

    bids: Levels
    asks: Levels
    #: price units; ``None`` when the body has no ``tick_size`` (the book keeps its own grid)
    tick: int | None
    min_order_size: int


def _rest_side(body: Mapping[str, Any], side: str, tick: int) -> Levels:
    raw = body.get(side)
    if not isinstance(raw, list):
        raise ParseError(f"'{side}' is {_kind(raw)}, not a list of {{price, size}} levels")
    levels: Levels = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or "price" not in entry or "size" not in entry:
            raise ParseError(f"{side}[{i}]: {entry!r} lacks price/size")
        levels.append(_level(entry["price"], entry["size"], tick, side, i))
    return levels


def _optional(body: Mapping[str, Any], key: str, parse: Callable[[str], int]) -> int | None:
    text = body.get(key)
    if text is None:
        return None
    try:
        if not isinstance(text, str):
            raise UnitError(f"{text!r} is not a decimal string")
        return parse(text)
    except UnitError as exc:
        raise ParseError(f"{key}: {exc}") from None


def book_from_rest(body: Mapping[str, Any]) -> RestBook:
    """The one reader of a REST ``/book`` body (OrderBookSummary, venues.md §2.7), as JSON.

    ``bids`` and ``asks`` must both be lists: the venue always sends both (``[]`` for an empty
    side; the SDK crashes on a missing key), so a body without them, ``{}`` included, is not an
    empty book but something else (an error envelope, the wrong endpoint) and is refused rather
    than read as a quiet market. ``tick_size`` and ``min_order_size`` are optional so that a
    hand-trimmed snapshot still loads; when present they must be the venue's decimal strings, and
    every price must sit on the tick. Sort order is not trusted. Extra keys are ignored, as the
    venue adds fields without notice.
    """
    if not isinstance(body, Mapping):
        raise ParseError(f"book body is {_kind(body)}, not an object")
    tick = _optional(body, "tick_size", parse_tick)
    min_size = _optional(body, "min_order_size", parse_size)
    grid = tick or 1
    bids, asks = _rest_side(body, "bids", grid), _rest_side(body, "asks", grid)
    return RestBook(bids, asks, tick, min_size or 0)


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
    """The books of every subscribed token, updated from market-channel frames.

    :meth:`apply_frame` never raises: whatever a frame holds, it is applied, or counted in
    :attr:`FeedStats.errors` by kind and the tokens it names are marked stale.
    """

    def __init__(
        self,
        on_change: Callable[[str], None] | None = None,
        on_lifecycle: Callable[[LifecycleEvent], None] | None = None,
    ) -> None:
        self.books: dict[str, TokenBook] = {}
        self.market_of: dict[str, str] = {}
        self.last_trade: dict[str, int] = {}
        self.trades: dict[str, LastTrade] = {}
        self.stale: set[str] = set()
        #: tokens of resolved markets: never traded again, never resynced
        self.halted: set[str] = set()
        self.resolved: dict[str, MarketResolvedEvent] = {}
        self.stats = FeedStats()
        self.on_change = on_change
        self.on_lifecycle = on_lifecycle
        #: told (asset id, new tick) on every ``tick_size_change``: the engine re-reads the
        #: market's ``/clob-markets`` (fee, minimum size) when the venue says it changed
        self.on_tick_change: Callable[[str, int], None] | None = None

    def book(self, asset_id: str) -> TokenBook | None:
        return self.books.get(asset_id)

    def mark_stale(self, asset_id: str) -> None:
        self.stale.add(asset_id)

    def refuse(self, exc: BaseException, data: bytes | str | None = None) -> None:
        count_error(self.stats, error_kind(exc), exc, data)

    # -- frames ---------------------------------------------------------------------------
    def apply_frame(self, data: bytes | str, now_ns: int) -> int:
        """Decode and apply one WebSocket text frame; returns the number of events applied."""
        self.stats.frames += 1
        try:
            try:
                decoded = _FRAME_DECODER.decode(data)
            except msgspec.ValidationError:
                return self._apply_tolerant(data, now_ns)
            if isinstance(decoded, list):
                applied = 0
                for event in decoded:
                    applied += self.apply_event(event, now_ns)
                return applied
            return self.apply_event(decoded, now_ns)
        except CONTAINED as exc:
            self.refuse(exc, data)
            return 0

    def _apply_tolerant(self, data: bytes | str, now_ns: int) -> int:
        """Slow path: a frame with an unknown event type or a bad field somewhere; each item on
        its own, so one bad event in an array does not lose the others."""
        raw = msgspec.json.decode(data)
        items: list[Any] = raw if isinstance(raw, list) else [raw]
        applied = 0
        for item in items:
            kind = item.get("event_type") if isinstance(item, dict) else None
            if not isinstance(kind, str):
                count_error(self.stats, "schema", f"event_type is {_kind(kind)}", data)
                continue
            if kind not in MARKET_EVENT_TYPES:
                self.stats.ignored += 1  # a type the venue added after this code
                continue
            try:
                event = msgspec.convert(item, MarketEvent)
            except CONTAINED as exc:
                self.refuse(exc, data)
                for asset in _assets_named(item):
                    if asset in self.books:
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
            elif isinstance(event, LastTradePriceEvent):
                self._trade(event)
            elif isinstance(event, BestBidAskEvent):
                self.stats.tops += 1
                self._check_top(event.asset_id, event.best_bid, event.best_ask)
            elif isinstance(event, TickSizeChangeEvent):
                self._tick(event, now_ns)
                self._lifecycle(event)
            elif isinstance(event, MarketResolvedEvent):
                self._resolved(event)
                self._lifecycle(event)
            elif isinstance(event, NewMarketEvent):
                self._lifecycle(event)
        except CONTAINED as exc:
            self.refuse(exc)
            for asset in _event_assets(event):
                if asset in self.books:
                    self.stale.add(asset)
            return 0
        return 1

    def _lifecycle(self, event: LifecycleEvent) -> None:
        self.stats.lifecycle += 1
        if self.on_lifecycle is not None:
            self.on_lifecycle(event)

    def _resolved(self, event: MarketResolvedEvent) -> None:
        named = set(event.assets_ids) | {a for a, m in self.market_of.items() if m == event.market}
        for asset in named & self.books.keys():  # only tokens we hold: the set stays bounded
            self.resolved[asset] = event
            self.halted.add(asset)
            self.stale.discard(asset)

    def _trade(self, event: LastTradePriceEvent) -> None:
        price = wire_price(event.price)
        size = wire_size(event.size) if event.size else None
        if event.side not in ("BUY", "SELL", ""):
            raise UnitError(f"last_trade_price side {event.side!r} is neither BUY nor SELL")
        fee = _bps(event.fee_rate_bps) if event.fee_rate_bps else None
        ts = int(event.timestamp) if event.timestamp.isdigit() else None
        self.last_trade[event.asset_id] = price
        self.trades[event.asset_id] = LastTrade(price, size, event.side, fee, ts)

    def _snapshot(self, event: BookEvent, now_ns: int) -> None:
        asset = event.asset_id
        bids = parse_levels(event.bid_levels(), side="bids")
        asks = parse_levels(event.ask_levels(), side="asks")
        book = self.books.get(asset)
        if book is None:
            book = self.books[asset] = TokenBook(asset)
        if event.market:
            self.market_of[asset] = event.market
        grid = parse_tick(event.tick_size) if event.tick_size else _grid_for(bids + asks, book.tick)
        try:
            book.apply_snapshot(bids, asks, now_ns, tick=grid)
        except BookError:
            self.stats.rejected += 1
            self.stale.add(asset)
            return
        self.stale.discard(asset)
        if self.on_change is not None:
            self.on_change(asset)

    def apply_rest(self, body: Any, now_ns: int) -> bool:
        """Resync one token from a REST ``/book`` body (any JSON value; refused when it is not
        a usable book). Returns whether the book was replaced."""
        try:
            asset, rest = _rest_book(body)
            book = self.books.get(asset)
            if book is None:
                book = self.books[asset] = TokenBook(asset)
            market = body.get("market")
            if isinstance(market, str) and market:
                self.market_of[asset] = market
            grid = rest.tick if rest.tick is not None else _grid_for(rest.bids + rest.asks,
                                                                      book.tick)
            book.apply_snapshot(rest.bids, rest.asks, now_ns, tick=grid)
        except BookError as exc:
            self.stats.rejected += 1
            self.refuse(exc)
            return False
        except CONTAINED as exc:  # the token stays stale; the next resync tries again
            self.refuse(exc)
            return False
        self.stale.discard(asset)
        self.stats.resyncs += 1
        if self.on_change is not None:
            self.on_change(asset)
        return True

    def cross_check(self, body: Any, asked_ns: int, now_ns: int) -> str:
        """Compare a REST ``/book`` body with a token's quiet local book (the staleness watchdog).

        * ``"live"``: the book changed since the request was sent (``asked_ns``): the
          subscription is delivering, nothing to conclude;
        * ``"same"``: REST agrees level for level: a quiet market, not a stall; the book is
          *confirmed* as of ``now_ns`` (its ``ts_ns``, which the detector's age check reads);
        * ``"stalled"``: REST disagrees while the feed said nothing: a silent stall; the book is
          replaced from REST (the one complete source) and the caller resubscribes;
        * ``"refused"``: the body is no usable book (counted; the token is marked stale).
        """
        try:
            asset, rest = _rest_book(body)
        except CONTAINED as exc:
            self.refuse(exc)
            return "refused"
        book = self.books.get(asset)
        if book is None or asset in self.halted:
            return "refused"
        if book.ts_ns > asked_ns:
            return "live"
        same_tick = rest.tick is None or rest.tick == book.tick  # else a missed tick change
        if same_tick and sorted(rest.bids, reverse=True) == list(book.bids) and sorted(
            rest.asks
        ) == list(book.asks):
            book.ts_ns = now_ns
            if self.on_change is not None:  # confirmed: detection may use it again
                self.on_change(asset)
            return "same"
        self.stats.stalls += 1
        if not self.apply_rest(body, now_ns):
            self.stale.add(asset)
        return "stalled"

    def _price_change(self, event: PriceChangeEvent, now_ns: int) -> None:
        changes = event.price_changes or event.changes or event.levels()  # current form first
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
            try:
                self._apply_changes(asset, book, group, now_ns)
            except CONTAINED:
                self.stale.add(asset)
                raise

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
        """Move the book to the new grid (any of the venue's ticks, 0.1 to 0.0001)."""
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
        if self.on_tick_change is not None:
            self.on_tick_change(event.asset_id, tick)
        if self.on_change is not None:
            self.on_change(event.asset_id)


def _bps(text: str) -> int:
    """A fee rate in basis points: a non-negative decimal integer string, nothing else."""
    if not text.isdigit():
        raise UnitError(f"fee_rate_bps {text!r} is not a whole number of basis points")
    return int(text)


def _assets_named(item: Mapping[str, Any]) -> list[str]:
    """Token ids a raw (undecodable) event names, so their books can be marked stale."""
    out: list[str] = []
    asset = item.get("asset_id")
    if isinstance(asset, str):
        out.append(asset)
    changes = item.get("price_changes")
    if isinstance(changes, list):
        for change in changes:
            if isinstance(change, dict) and isinstance(change.get("asset_id"), str):
                out.append(change["asset_id"])
    return out


def _event_assets(event: MarketEvent) -> list[str]:
    if isinstance(event, PriceChangeEvent):
        return [c.asset_id or event.asset_id for c in event.levels()] or [event.asset_id]
    if isinstance(event, MarketResolvedEvent | NewMarketEvent):
        return list(event.assets_ids)
    return [event.asset_id]


def _rest_book(body: Any) -> tuple[str, RestBook]:
    """The token id and the parsed book of a REST ``/book`` body; :class:`ParseError` (or a
    decode error) when it is not a usable book."""
    if not isinstance(body, Mapping):
        raise ParseError(f"book body is {_kind(body)}, not an object")
    asset = body.get("asset_id")
    if not isinstance(asset, str) or not asset:
        raise ParseError(f"asset_id is {_kind(asset)}, not a token id")
    return asset, book_from_rest(body)
