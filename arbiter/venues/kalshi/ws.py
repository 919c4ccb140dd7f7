"""Kalshi order book feed: signed WebSocket, ``orderbook_delta`` for many tickers, core books.

Correctness rules (venues.md §1.8, §4): ``seq`` is per subscription id; a gap, a delta for a
market without a snapshot, or a delta the book refuses (negative size, crossed) invalidates every
book of that subscription until a fresh snapshot arrives (``update_subscription`` /
``get_snapshot``). Duplicates (``seq`` at or below the last one) are dropped. A reconnect starts
from scratch: new sids, new snapshots. A malformed frame is counted and logged, never fatal.

Frame processing (:meth:`KalshiFeed.process`) is synchronous and separate from the socket loop,
so the same code runs in the live monitor, the benchmark and replay. Frames are decoded once by
msgspec into typed structs; prices and counts go from the wire strings straight to integers by a
hand-written fast path (with the exact core parser as fallback for unusual forms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, final

import msgspec
from websockets.exceptions import WebSocketException

from arbiter.core.book import BookError, KalshiBook, Outcome
from arbiter.core.fees import KalshiFeeError, KalshiSeriesFees
from arbiter.core.lifecycle import (
    LifecycleError,
    LifecycleUpdate,
    MarketPhase,
    apply_lifecycle,
    phase_from_status,
)
from arbiter.core.price_grid import PriceGrid
from arbiter.core.units import (
    PRICE_SCALE,
    SIZE_SCALE,
    UnitError,
    parse_price,
    parse_size,
    price_from_cents,
    size_from_count,
)
from arbiter.venues.base import VenueError
from arbiter.venues.kalshi.config import KalshiConfig
from arbiter.venues.kalshi.grid import grids_of
from arbiter.venues.kalshi.signing import Signer, signing_path
from arbiter.venues.kalshi.wslink import HandshakeError, WsLink, open_link

__all__ = [
    "FeedStats",
    "KalshiFeed",
    "TickerQuote",
    "TradePrint",
    "UnauthenticatedFeedError",
    "iso_ns",
    "parse_count",
    "parse_signed_count",
    "parse_wire_price",
    "ticker_from_msg",
    "trade_from_msg",
]

log = logging.getLogger(__name__)

#: error codes that kill a live subscription (§1.8): resubscribe
FATAL_SUB_CODES: Final = frozenset({10, 17, 25})
_MAX_MALFORMED_LOGS: Final = 20
Buffer = bytes | bytearray | memoryview


class DeltaMsg(msgspec.Struct, gc=False):
    market_ticker: str = ""
    side: str = ""
    price_dollars: str | None = None
    delta_fp: str | None = None
    price: int | None = None  # legacy cents
    delta: int | None = None  # legacy whole contracts
    ts_ms: int = 0
    #: RFC 3339 stamp; some frames carry only this (NautilusTrader's captured delta)
    ts: str | None = None


class LifecycleMsg(msgspec.Struct, gc=False):
    """``market_lifecycle_v2`` (docs ``/websockets/market-and-event-lifecycle``)."""

    market_ticker: str = ""
    event_type: str = ""
    result: str | None = None
    close_ts: int | None = None
    open_ts: int | None = None
    is_deactivated: bool | None = None
    determination_ts: int | None = None
    settled_ts: int | None = None


class EventFeeMsg(msgspec.Struct, gc=False):
    """``event_fee_update`` ("Event Fee Override Update", docs
    ``/websockets/market-and-event-lifecycle``, AsyncAPI ``eventFeeUpdatePayload``): an event's
    fee override was set or cleared. All three keys are required; both overrides are ``null``
    when the override is cleared (the event falls back to its series' schedule)."""

    event_ticker: str
    fee_type_override: str | None
    fee_multiplier_override: int | float | None


class TickerMsg(msgspec.Struct, gc=False):
    """``ticker``: top of book and last price; empty sides are the sentinels 0 / 1."""

    market_ticker: str = ""
    price_dollars: str | None = None
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    yes_bid_size_fp: str | None = None
    yes_ask_size_fp: str | None = None
    volume_fp: str | None = None
    price: int | None = None  # legacy cents
    yes_bid: int | None = None
    yes_ask: int | None = None
    ts: int | None = None  # Unix seconds
    ts_ms: int | None = None


class TradeMsg(msgspec.Struct, gc=False):
    """Public ``trade``: one execution in a market (no account data)."""

    trade_id: str = ""
    market_ticker: str = ""
    yes_price_dollars: str | None = None
    count_fp: str | None = None
    yes_price: int | None = None  # legacy cents
    count: int | None = None  # legacy whole contracts
    taker_side: str | None = None
    ts: int | None = None
    ts_ms: int | None = None


class SnapshotMsg(msgspec.Struct, gc=False):
    market_ticker: str = ""
    yes_dollars_fp: list[tuple[str, str]] | None = None
    no_dollars_fp: list[tuple[str, str]] | None = None
    yes_dollars: list[tuple[str, str]] | None = None
    no_dollars: list[tuple[str, str]] | None = None
    yes: list[tuple[int, int]] | None = None
    no: list[tuple[int, int]] | None = None
    ts_ms: int = 0


class ControlMsg(msgspec.Struct, gc=False):
    code: int | None = None
    msg: str | None = None
    sid: int | None = None
    channel: str | None = None


@final
class DeltaFrame(msgspec.Struct, tag_field="type", tag="orderbook_delta", gc=False):
    sid: int = 0
    seq: int = 0
    msg: DeltaMsg | None = None


@final
class SnapshotFrame(msgspec.Struct, tag_field="type", tag="orderbook_snapshot", gc=False):
    sid: int = 0
    seq: int = 0
    msg: SnapshotMsg | None = None


@final
class SubscribedFrame(msgspec.Struct, tag_field="type", tag="subscribed", gc=False):
    id: int | None = None
    msg: ControlMsg | None = None


@final
class ErrorFrame(msgspec.Struct, tag_field="type", tag="error", gc=False):
    id: int | None = None
    sid: int = 0
    msg: ControlMsg | None = None


@final
class LifecycleFrame(msgspec.Struct, tag_field="type", tag="market_lifecycle_v2", gc=False):
    sid: int = 0
    seq: int = 0
    msg: LifecycleMsg | None = None


@final
class EventFeeFrame(msgspec.Struct, tag_field="type", tag="event_fee_update", gc=False):
    """Rides the ``market_lifecycle_v2`` subscription (same ``sid``), per event, not market."""

    sid: int = 0
    seq: int = 0
    msg: EventFeeMsg | None = None


@final
class TickerFrame(msgspec.Struct, tag_field="type", tag="ticker", gc=False):
    sid: int = 0
    seq: int = 0
    msg: TickerMsg | None = None


@final
class TradeFrame(msgspec.Struct, tag_field="type", tag="trade", gc=False):
    sid: int = 0
    seq: int = 0
    msg: TradeMsg | None = None


class AnyFrame(msgspec.Struct, gc=False):
    """Fallback for frame types the book feed ignores (ok, trade, ticker, fill, ...)."""

    type: str


#: The frame classes are ``@final``: ``process`` dispatches with ``type(frame) is ...`` (cheaper
#: than isinstance on the hot path), and only final classes let a type checker narrow the
#: remaining union after such a test (a subclass could otherwise pass ``type() is not``).
Frame = (DeltaFrame | SnapshotFrame | SubscribedFrame | ErrorFrame | LifecycleFrame | TickerFrame
         | TradeFrame | EventFeeFrame)

#: one tagged-union decoder dispatches on ``type`` without an if-chain over dicts
_decode = msgspec.json.Decoder(Frame).decode
_decode_any = msgspec.json.Decoder(AnyFrame).decode
_BOOK_TYPES: Final = frozenset({"orderbook_delta", "orderbook_snapshot", "subscribed", "error",
                                "market_lifecycle_v2", "ticker", "trade", "event_fee_update"})




# -- exact fast parsers ---------------------------------------------------------------------------


#: Memo tables: a market has at most 10,000 price strings and deltas repeat a handful of sizes,
#: so a dict hit (~40 ns) replaces string surgery on almost every frame. Bounded by clearing.
_PRICE_MEMO: dict[str, int] = {}
_COUNT_MEMO: dict[str, int] = {}
_MEMO_MAX: Final = 65_536
_OUTCOMES: Final = {"yes": Outcome.YES, "no": Outcome.NO}


def parse_wire_price(s: str) -> int:
    """``"0.4200"`` -> 4200, exact; memoised, general parser only for unusual forms."""
    value = _PRICE_MEMO.get(s)
    if value is not None:
        return value
    if len(s) == 6 and s[0] == "0" and s[1] == "." and s[2:].isdigit():
        value = int(s[2:])
        if value == 0:
            value = parse_price(s)  # raises: outside (0, 1)
    else:
        value = parse_price(s)
    if len(_PRICE_MEMO) >= _MEMO_MAX:
        _PRICE_MEMO.clear()
    _PRICE_MEMO[s] = value
    return value


def parse_count(s: str) -> int:
    """``"13.00"`` -> 13_000_000 size units (exact, non-negative)."""
    if len(s) > 3 and s[-3] == "." and s[:-3].isdigit() and s[-2:].isdigit():
        return int(s[:-3]) * SIZE_SCALE + int(s[-2:]) * (SIZE_SCALE // 100)
    return parse_size(s, 2)  # Kalshi counts carry at most 2 decimals


def parse_signed_count(s: str) -> int:
    """``"-54.00"`` -> -54_000_000 (a delta); memoised."""
    value = _COUNT_MEMO.get(s)
    if value is not None:
        return value
    value = -parse_count(s[1:]) if s[:1] == "-" else parse_count(s)
    if len(_COUNT_MEMO) >= _MEMO_MAX:
        _COUNT_MEMO.clear()
    _COUNT_MEMO[s] = value
    return value


def _levels(raw: Iterable[tuple[str, str]] | None) -> list[tuple[int, int]]:
    return [(parse_wire_price(p), parse_count(c)) for p, c in raw or ()]


def _levels_cents(raw: Iterable[tuple[int, int]] | None) -> list[tuple[int, int]]:
    return [(price_from_cents(p), size_from_count(c)) for p, c in raw or ()]


def iso_ns(text: str) -> int:
    """An RFC 3339 stamp (``2025-03-01T18:26:53.361842Z``) as Unix nanoseconds, exactly.

    ``datetime`` keeps microseconds, which is all Kalshi writes; a malformed stamp raises
    ``ValueError`` (the frame is then counted as malformed, never stamped 0).
    """
    value = _ISO_MEMO.get(text)
    if value is not None:
        return value
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    delta = dt - _EPOCH
    value = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if len(_ISO_MEMO) >= 4096:
        _ISO_MEMO.clear()
    _ISO_MEMO[text] = value
    return value


_ISO_MEMO: dict[str, int] = {}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _frame_ns(ts_ms: int | None, ts_s: int | None) -> int:
    if ts_ms:
        return ts_ms * 1_000_000
    if ts_s:
        return ts_s * 1_000_000_000
    return time.time_ns()


@dataclass(frozen=True, slots=True)
class TickerQuote:
    """The venue's own top of book for a market (``ticker``), for staleness and reports."""

    market: str
    yes_bid: int | None
    yes_ask: int | None
    last: int | None
    ts_ns: int


@dataclass(frozen=True, slots=True)
class TradePrint:
    """The last public trade of a market (``trade``), for reports."""

    trade_id: str
    market: str
    yes_price: int
    count: int
    taker_side: str
    ts_ns: int


def _quote_price(dollars: str | None, cents: int | None, empty: int) -> int | None:
    """A ``ticker`` price; the empty-side sentinel (0 bid, 1 ask, 0 last) means none."""
    if dollars is not None:
        if parse_price_bounds(dollars) == empty:
            return None
        return parse_wire_price(dollars)
    if cents is not None:
        if cents * 100 == empty:
            return None
        return price_from_cents(cents)
    return None


def parse_price_bounds(text: str) -> int:
    """A dollar string in [0, 1] (the ``ticker`` sentinels included) as price units."""
    if text in ("0.0000", "0", "0.00"):
        return 0
    if text in ("1.0000", "1", "1.00"):
        return PRICE_SCALE
    return parse_wire_price(text)


def ticker_from_msg(m: TickerMsg) -> TickerQuote:
    return TickerQuote(
        m.market_ticker,
        _quote_price(m.yes_bid_dollars, m.yes_bid, 0),
        _quote_price(m.yes_ask_dollars, m.yes_ask, PRICE_SCALE),
        _quote_price(m.price_dollars, m.price, 0),
        _frame_ns(m.ts_ms, m.ts),
    )


def trade_from_msg(m: TradeMsg) -> TradePrint:
    if m.yes_price_dollars is not None:
        price = parse_wire_price(m.yes_price_dollars)
    elif m.yes_price is not None:
        price = price_from_cents(m.yes_price)
    else:
        raise ValueError("trade without a price")
    if m.count_fp is not None:
        count = parse_count(m.count_fp)
    elif m.count is not None:
        count = size_from_count(m.count)
    else:
        raise ValueError("trade without a count")
    if m.taker_side not in ("yes", "no"):
        raise ValueError(f"trade taker_side {m.taker_side!r}")
    return TradePrint(m.trade_id, m.market_ticker, price, count, m.taker_side,
                      _frame_ns(m.ts_ms, m.ts))


class UnauthenticatedFeedError(RuntimeError):
    """A feed asked to connect without credentials (the venue requires signed connections)."""


@dataclass
class FeedStats:
    frames: int = 0
    deltas: int = 0
    snapshots: int = 0
    malformed: int = 0
    gaps: int = 0
    duplicates: int = 0
    dropped_unsynced: int = 0
    resyncs: int = 0
    book_errors: int = 0
    reconnects: int = 0
    lifecycle: int = 0
    tickers: int = 0
    trades: int = 0
    fee_changes: int = 0
    errors: int = 0
    error_codes: list[int] = field(default_factory=list)


class KalshiFeed:
    """Keeps one :class:`KalshiBook` per ticker in sync with the venue."""

    def __init__(
        self,
        config: KalshiConfig,
        signer: Signer | None,
        tickers: Iterable[str],
        *,
        ticks: dict[str, int] | None = None,
        grids: dict[str, PriceGrid] | None = None,
        check_grids: bool = True,
        fees: dict[str, KalshiSeriesFees] | None = None,
        on_book: Callable[[KalshiBook], None] | None = None,
        on_lifecycle: Callable[[LifecycleUpdate], None] | None = None,
        on_lifecycle_error: Callable[[str, str], None] | None = None,
        lifecycle: bool = True,
        market_data: bool = True,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        open_timeout_s: float = 10.0,
        ping_interval_s: float | None = 20.0,
        idle_timeout_s: float = 30.0,
        tickers_per_subscription: int = 200,
    ) -> None:
        self.config = config
        self.signer = signer
        #: other accounts' signers (the engine's other tenants), tried in turn when the venue
        #: refuses this one's key at the handshake (401/403: revoked, rotated), so one tenant's
        #: bad key does not take the market data down for the others (ADR 0147)
        self.spare_signers: list[Signer] = []
        self.tickers = list(dict.fromkeys(tickers))
        ticks = ticks or {}
        grids = grids or {}
        self.books: dict[str, KalshiBook] = {
            t: KalshiBook(t, ticks.get(t, 100), grids.get(t)) for t in self.tickers}
        self.valid: set[str] = set()
        #: check every book's grid against the venue's ``price_ranges`` before subscribing
        self.check_grids = check_grids
        #: ticker -> why it is not subscribed (its grid differs from the venue's, or is unknown)
        self.refused: dict[str, str] = {}
        self._grids_checked = not check_grids
        #: the fee schedule detection prices each market with: checked against the venue's
        #: (series + event overrides) with the grids; a market that differs is not subscribed
        self.fees = dict(fees or {})
        #: subscribe ``market_lifecycle_v2`` (all markets; ours are passed to ``on_lifecycle``)
        self.lifecycle = lifecycle
        #: subscribe ``ticker`` and ``trade`` for the books' markets (staleness, last trade)
        self.market_data = market_data
        self.on_lifecycle = on_lifecycle
        self.on_lifecycle_error = on_lifecycle_error
        #: each market's lifecycle phase as last stated by REST or ``market_lifecycle_v2``
        self.phases: dict[str, MarketPhase] = {}
        #: the venue's own top of book per market (``ticker``)
        self.quotes: dict[str, TickerQuote] = {}
        #: the last public trade per market (``trade``)
        self.trades: dict[str, TradePrint] = {}
        #: event ticker -> our markets in it (from the markets read at start): fee overrides
        #: are announced per event (``event_fee_update``)
        self.event_markets: dict[str, set[str]] = {}
        #: markets halted by a fee change: ticker -> why (until a re-read confirms the schedule
        #: detection prices with; a re-read that differs keeps them halted)
        self.fee_halted: dict[str, str] = {}
        self._fee_generation: dict[str, int] = {}
        self._fee_tasks: set[asyncio.Task[None]] = set()
        #: attempts at re-reading a changed schedule before the market is left halted
        self.fee_reread_attempts = 5
        self.on_book = on_book
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.open_timeout_s = open_timeout_s
        self.ping_interval_s = ping_interval_s
        #: the venue pings every 10 s: this long without any byte means a dead connection
        self.idle_timeout_s = idle_timeout_s
        #: the venue caps markets per subscription (error 26); large lists are split
        self.tickers_per_subscription = max(1, tickers_per_subscription)
        self.stats = FeedStats()
        #: commands waiting to be sent (the socket loop drains it after every frame)
        self.outbox: list[dict[str, Any]] = []
        #: when a list, the socket loop appends each frame's process time in ns (benchmarks)
        self.latencies: list[int] | None = None
        self._last: dict[int, int | None] = {}
        self._sid_tickers: dict[int, set[str]] = {}
        self._resyncing: set[int] = set()
        self._pending_subs: dict[int, list[str]] = {}
        self._next_id = 0
        self._stop = asyncio.Event()
        self._synced = asyncio.Event()
        self._link: WsLink | None = None
        self.connected = asyncio.Event()

    # -- frame processing (pure, synchronous) ---------------------------------------------------
    def process(self, raw: str | Buffer) -> None:
        self.stats.frames += 1
        try:
            try:
                frame = _decode(raw)
            except msgspec.ValidationError:
                if _decode_any(raw).type in _BOOK_TYPES:
                    raise  # one of ours, but broken
                return  # a well-formed frame of a type books do not need (ok, trade, ...)
            if type(frame) is DeltaFrame:
                self._delta(frame)
            elif type(frame) is SnapshotFrame:
                self._snapshot(frame)
            elif type(frame) is SubscribedFrame:
                self._subscribed(frame)
            elif type(frame) is ErrorFrame:
                self._error(frame)
            elif type(frame) is TickerFrame:
                self._ticker(frame)
            elif type(frame) is TradeFrame:
                self._trade(frame)
            elif type(frame) is EventFeeFrame:
                self._event_fee(frame)
            else:
                self._lifecycle(frame)
        except (msgspec.DecodeError, msgspec.ValidationError, UnitError, ValueError, TypeError,
                IndexError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
            # RecursionError: msgspec refuses deeply nested JSON with it (bench.fuzz found 1,168
            # escapes in 100,000 mutated frames); one hostile frame must never end the feed
            self.stats.malformed += 1
            if self.stats.malformed <= _MAX_MALFORMED_LOGS:
                shown = raw[:200] if isinstance(raw, str) else bytes(raw[:200]).decode(
                    "utf-8", "replace")
                log.warning("kalshi ws: malformed frame skipped (%s): %s", exc, shown)

    def _delta(self, frame: DeltaFrame) -> None:
        sid, seq = frame.sid, frame.seq
        last = self._last.get(sid)
        if last is None:
            self.stats.dropped_unsynced += 1
            return
        if seq <= last:
            self.stats.duplicates += 1
            return
        if seq != last + 1:
            self._gap(sid, f"seq {seq} after {last}")
            return
        self._last[sid] = seq
        try:
            self._apply_delta(frame, sid, seq)
        except (UnitError, ValueError, TypeError) as exc:
            # its seq is spent: the book would silently miss this change, so resync it
            self._gap(sid, f"unreadable delta: {exc}")
            raise

    def _apply_delta(self, frame: DeltaFrame, sid: int, seq: int) -> None:
        m = frame.msg
        if m is None:
            raise ValueError("delta without msg")
        ticker = m.market_ticker
        if ticker not in self.valid:
            if sid in self._resyncing:
                self.stats.dropped_unsynced += 1
            elif ticker in self.books:
                self._gap(sid, f"delta for {ticker} before its snapshot")
            return
        text = m.price_dollars
        if text is not None:  # memo hit inline: this runs for every delta
            price = _PRICE_MEMO.get(text) or parse_wire_price(text)
        elif m.price is not None:
            price = price_from_cents(m.price)
        else:
            raise ValueError("delta without price")
        text = m.delta_fp
        if text is not None:
            delta = _COUNT_MEMO.get(text) or parse_signed_count(text)
        elif m.delta is not None:
            delta = m.delta * SIZE_SCALE
        else:
            raise ValueError("delta without size")
        outcome = _OUTCOMES.get(m.side)
        if outcome is None:
            raise ValueError(f"delta side {m.side!r}")
        book = self.books[ticker]
        if m.ts_ms:
            ts_ns = m.ts_ms * 1_000_000
        elif m.ts is not None:
            ts_ns = iso_ns(m.ts)
        else:
            ts_ns = time.time_ns()  # never 0: a zero stamp would make the book look stale
        try:
            book.apply_delta(outcome, price, delta, ts_ns)
        except BookError as exc:
            self.stats.book_errors += 1
            self._gap(sid, f"{ticker}: {exc}")
            return
        book.seq = seq
        self.stats.deltas += 1
        if self.on_book is not None:
            self.on_book(book)

    def _snapshot(self, frame: SnapshotFrame) -> None:
        sid, seq = frame.sid, frame.seq
        last = self._last.get(sid)
        if last is not None:
            if seq <= last:
                self.stats.duplicates += 1
                return
            if seq != last + 1:
                self._gap(sid, f"seq {seq} after {last}")
        m = frame.msg
        if m is None:
            raise ValueError("snapshot without msg")
        ticker = m.market_ticker
        book = self.books.get(ticker)
        if book is None:
            self._last[sid] = seq
            return
        if m.yes_dollars_fp is not None or m.no_dollars_fp is not None:
            yes, no = _levels(m.yes_dollars_fp), _levels(m.no_dollars_fp)
        elif m.yes_dollars is not None or m.no_dollars is not None:
            yes, no = _levels(m.yes_dollars), _levels(m.no_dollars)
        else:
            yes, no = _levels_cents(m.yes), _levels_cents(m.no)
        self._last[sid] = seq
        try:
            book.apply_snapshot(yes, no, m.ts_ms * 1_000_000 or time.time_ns(), seq)
        except BookError as exc:
            self.stats.book_errors += 1
            self.valid.discard(ticker)
            log.warning("kalshi ws: snapshot refused for %s: %s", ticker, exc)
            return
        self.stats.snapshots += 1
        self.valid.add(ticker)
        if sid in self._resyncing and self._sid_tickers.get(sid, set()) <= self.valid:
            self._resyncing.discard(sid)
        if len(self.valid) >= len(self.books) - len(self.refused):
            self._synced.set()
        if self.on_book is not None:
            self.on_book(book)

    # -- market data and lifecycle ------------------------------------------------------------
    def _ticker(self, frame: TickerFrame) -> None:
        """The venue's top of book: reports read it, and a synced book whose best prices it
        confirms is fresh as of the ticker's stamp (a quiet market is not a stale one)."""
        m = frame.msg
        if m is None or m.market_ticker not in self.books:
            return
        quote = ticker_from_msg(m)
        self.quotes[quote.market] = quote
        self.stats.tickers += 1
        book = self.books[quote.market]
        if (quote.market in self.valid and quote.ts_ns > book.ts_ns
                and book.best_bid(Outcome.YES) == quote.yes_bid
                and book.best_ask(Outcome.YES) == quote.yes_ask):
            book.ts_ns = quote.ts_ns

    def _trade(self, frame: TradeFrame) -> None:
        m = frame.msg
        if m is None or m.market_ticker not in self.books:
            return
        self.trades[m.market_ticker] = trade_from_msg(m)
        self.stats.trades += 1

    def _lifecycle(self, frame: LifecycleFrame) -> None:
        m = frame.msg
        if m is None or m.market_ticker not in self.books:
            return  # the channel carries every market; only ours matter
        self.stats.lifecycle += 1
        ticker = m.market_ticker
        try:
            update = apply_lifecycle(msgspec.structs.asdict(m), int(time.time()),
                                     self.phases.get(ticker))
        except LifecycleError as exc:
            self._lifecycle_failed(ticker, str(exc))
            return
        if update.phase is not None:
            self.phases[ticker] = update.phase
        log.info("kalshi ws: %s: %s -> %s", ticker, update.event_type,
                 update.phase.value if update.phase else "unchanged")
        if update.phase is not None and update.phase.trades and ticker in self.fee_halted:
            # active again at the venue, but its fees are not confirmed: stay halted
            log.info("kalshi ws: %s: %s held back: %s", ticker, update.event_type,
                     self.fee_halted[ticker])
            return
        if self.on_lifecycle is not None:
            self.on_lifecycle(update)

    def _lifecycle_failed(self, ticker: str, reason: str) -> None:
        log.error("kalshi ws: %s: lifecycle not understood, not trading it: %s", ticker, reason)
        self.phases.pop(ticker, None)  # its phase is unknown now: nothing resumes it but an event
        if self.on_lifecycle_error is not None:
            self.on_lifecycle_error(ticker, reason)

    # -- fee changes while running -------------------------------------------------------------
    def _event_fee(self, frame: EventFeeFrame) -> None:
        """An event's fee override was set or cleared: every market of ours in that event stops
        trading at once (detection priced it with the old schedule) and its schedule is re-read
        from REST (series + event override, the one reader ``market_fees``); it trades again
        only when the venue's schedule is the one the pairs file states."""
        m = frame.msg
        if m is None or not m.event_ticker:
            raise ValueError("event_fee_update without msg.event_ticker")
        tickers = sorted(t for t in self.event_markets.get(m.event_ticker, ())
                         if t in self.fees)
        if not tickers:
            return  # another event's fees, or a feed that does not check fees
        self.stats.fee_changes += 1
        override = (f"{m.fee_type_override} x {m.fee_multiplier_override}"
                    if m.fee_type_override is not None or m.fee_multiplier_override is not None
                    else "cleared")
        for ticker in tickers:
            reason = (f"fee override of event {m.event_ticker} changed ({override}); "
                      "re-reading the market's fee schedule")
            self.fee_halted[ticker] = reason
            self._fee_generation[ticker] = self._fee_generation.get(ticker, 0) + 1
            log.warning("kalshi ws: %s: %s", ticker, reason)
            if self.on_lifecycle_error is not None:
                self.on_lifecycle_error(ticker, reason)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (replay): stays halted, as unconfirmed
            return
        task = loop.create_task(self._reread_fees(
            {t: self._fee_generation[t] for t in tickers}))
        self._fee_tasks.add(task)
        task.add_done_callback(self._fee_tasks.discard)

    async def _reread_fees(self, generations: dict[str, int]) -> None:
        from arbiter.venues.kalshi.rest import KalshiRestClient

        pending = dict(generations)
        attempt = 0
        async with KalshiRestClient(self.config, None, max_retries=1) as rest:
            while pending and attempt < self.fee_reread_attempts:
                for ticker, generation in list(pending.items()):
                    try:
                        charged = (await rest.market_fees(ticker)).fees
                    except VenueError as exc:  # try again: the market stays halted meanwhile
                        log.warning("kalshi ws: %s: fee schedule not re-read: %s", ticker, exc)
                        continue
                    except KalshiFeeError as exc:
                        charged, problem = None, str(exc)
                    del pending[ticker]
                    if self._fee_generation.get(ticker) != generation:
                        continue  # a newer change is being re-read
                    expected = self.fees[ticker]
                    if charged == expected:
                        self._fees_confirmed(ticker)
                        continue
                    if charged is not None:
                        problem = (f"the venue now charges {charged.fee_type.value} x "
                                   f"{charged.multiplier}, the pairs file says "
                                   f"{expected.fee_type.value} x {expected.multiplier}; run "
                                   "`arbiter pairs refresh` and restart")
                    self.fee_halted[ticker] = f"{ticker}: {problem}"
                    log.error("kalshi ws: %s: not trading: %s", ticker, problem)
                if pending:
                    attempt += 1
                    await asyncio.sleep(self.backoff_s * (1 << min(attempt, 6)))
        for ticker in pending:
            log.error("kalshi ws: %s: fee schedule could not be re-read; not trading it",
                      ticker)

    def _fees_confirmed(self, ticker: str) -> None:
        """The venue charges what detection prices with: the fee halt ends; the market trades
        again if its lifecycle phase (unchanged meanwhile) allows it."""
        self.fee_halted.pop(ticker, None)
        phase = self.phases.get(ticker)
        log.info("kalshi ws: %s: fee schedule confirmed", ticker)
        if phase is not None and self.on_lifecycle is not None:
            self.on_lifecycle(LifecycleUpdate(ticker, "event_fee_update", phase))

    def _subscribed(self, frame: SubscribedFrame) -> None:
        m = frame.msg
        if m is None or m.sid is None:
            raise ValueError("subscribed without sid")
        if m.channel not in (None, "orderbook_delta"):
            return
        tickers = self._pending_subs.pop(frame.id or -1, self.tickers)
        self._sid_tickers[m.sid] = set(tickers)
        self._last[m.sid] = 0  # the first data message of a new subscription has seq 1

    def _error(self, frame: ErrorFrame) -> None:
        m = frame.msg
        code = m.code if m is not None and m.code is not None else -1
        self.stats.errors += 1
        self.stats.error_codes.append(code)
        log.warning("kalshi ws error %s: %s", code, m.msg if m is not None else "")
        sid = frame.sid or (m.sid if m is not None and m.sid is not None else 0)
        if code in FATAL_SUB_CODES and sid in self._sid_tickers:
            tickers = sorted(self._sid_tickers.pop(sid))
            self._last.pop(sid, None)
            self.valid.difference_update(tickers)
            self._synced.clear()
            self._subscribe(tickers)

    def _gap(self, sid: int, why: str) -> None:
        """Every book of ``sid`` is suspect: drop them and ask for fresh snapshots."""
        self.stats.gaps += 1
        tickers = self._sid_tickers.get(sid, set(self.tickers))
        self.valid.difference_update(tickers)
        self._synced.clear()
        self._last[sid] = None
        if sid not in self._resyncing:
            self._resyncing.add(sid)
        self.stats.resyncs += 1
        log.info("kalshi ws: resync sid %s (%s)", sid, why)
        self._command("update_subscription", {"sid": sid, "action": "get_snapshot",
                                              "market_tickers": sorted(tickers)})

    def _command(self, cmd: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        self.outbox.append({"id": self._next_id, "cmd": cmd, "params": params})
        return self._next_id

    def _subscribe(self, tickers: list[str]) -> None:
        cid = self._command(
            "subscribe", {"channels": ["orderbook_delta"], "market_tickers": tickers}
        )
        self._pending_subs[cid] = tickers

    def _reset_connection_state(self) -> None:
        self.valid.clear()
        self._synced.clear()
        self._last.clear()
        self._sid_tickers.clear()
        self._resyncing.clear()
        self._pending_subs.clear()
        self.outbox.clear()
        self._next_id = 0

    # -- socket loop ----------------------------------------------------------------------------
    async def wait_synced(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def stop(self) -> None:
        self._stop.set()
        for task in list(self._fee_tasks):
            task.cancel()
        if self._link is not None:
            self._link.close()

    async def drop_connection(self) -> None:
        """Cut the TCP connection as if the network failed (tests of the reconnect path)."""
        if self._link is not None:
            self._link.abort()

    def _headers(self) -> dict[str, str]:
        if self.signer is None:
            return {}
        return self.signer.headers("GET", signing_path(self.config.ws_url))

    async def _check_grids(self) -> None:
        """Compare each book's grid with the market's own (``GET /markets``: ``price_ranges``).

        A market whose grid differs from the one the books (and so detection and the hedges)
        were built with, or whose grid the venue does not state in a form we know, is refused:
        never subscribed, never synced, never traded. The grid comes from the market; the pairs
        file only says what it is expected to be.
        """
        from arbiter.venues.kalshi.rest import KalshiRestClient

        fee_problems: dict[str, str] = {}
        async with KalshiRestClient(self.config, None, max_retries=1) as rest:
            raw = await rest.markets_by_ticker(self.tickers)
            for ticker, expected in self.fees.items():  # the schedule each market charges
                if ticker not in raw:
                    continue
                try:
                    charged = (await rest.market_fees(ticker)).fees
                except KalshiFeeError as exc:
                    fee_problems[ticker] = f"{ticker}: {exc}"
                    continue
                if charged != expected:
                    fee_problems[ticker] = (
                        f"{ticker}: the venue charges {charged.fee_type.value} x "
                        f"{charged.multiplier}, the pairs file says {expected.fee_type.value} x "
                        f"{expected.multiplier}; run `arbiter pairs refresh`")
        venue = grids_of(raw, self.tickers)
        for ticker, m in raw.items():  # where each market is in its lifecycle right now
            if ticker not in self.books:
                continue
            event = m.get("event_ticker")
            if isinstance(event, str) and event:
                self.event_markets.setdefault(event, set()).add(ticker)
            try:
                phase = phase_from_status(m.get("status"), ticker)
            except LifecycleError as exc:
                self._lifecycle_failed(ticker, str(exc))
                continue
            self.phases[ticker] = phase
            if not phase.trades and self.on_lifecycle is not None:
                self.on_lifecycle(LifecycleUpdate(ticker, "status", phase))
        for ticker, grid in venue.items():
            book = self.books[ticker]
            if isinstance(grid, Exception):
                self.refused[ticker] = str(grid)
            elif grid != book.grid:
                self.refused[ticker] = (
                    f"{ticker}: the venue's price grid ({grid.describe()}) differs from the "
                    f"configured one ({book.grid.describe()}); set kalshi_price_level_structure")
            elif fee_problems.get(ticker):
                self.refused[ticker] = fee_problems[ticker]
            else:
                self.refused.pop(ticker, None)
                continue
            log.error("kalshi ws: %s: not subscribed: %s", ticker, self.refused[ticker])
        self._grids_checked = True

    @property
    def subscribed_tickers(self) -> list[str]:
        return [t for t in self.tickers if t not in self.refused]

    async def run(self) -> None:
        """Connect, subscribe, keep books; reconnect with capped exponential backoff until stopped.

        Every connection is signed: ``orderbook_delta`` is a private channel and the venue's
        current docs authenticate every WebSocket connection (docs ``/websockets``: "WebSocket
        connections use the same API key authentication"), so a feed without a signer refuses
        to start rather than connect and be answered with error 9.
        """
        if self.signer is None:
            raise UnauthenticatedFeedError(
                "the Kalshi feed needs API credentials: every WebSocket connection is signed "
                "(orderbook_delta is a private channel)")
        attempt = 0
        while not self._stop.is_set():
            link: WsLink | None = None
            try:
                if not self._grids_checked:
                    await self._check_grids()
                link = await open_link(self.config.ws_url, self._headers(), self._on_text,
                                       open_timeout_s=self.open_timeout_s)
                self._link = link
                if self._stop.is_set():
                    # stop() came while the link opened (it had no link to close; and under
                    # Python 3.11 a cancel that races the connect can be swallowed by
                    # asyncio.wait_for): leave now, or _watch would keep a live link forever
                    break
                self._reset_connection_state()
                step = self.tickers_per_subscription
                wanted = self.subscribed_tickers
                for i in range(0, len(wanted), step):
                    self._subscribe(wanted[i:i + step])
                if self.lifecycle:
                    self._command("subscribe", {"channels": ["market_lifecycle_v2"]})
                if self.market_data:
                    for i in range(0, len(wanted), step):
                        self._command("subscribe", {"channels": ["ticker", "trade"],
                                                    "market_tickers": wanted[i:i + step]})
                link.after_receive = self._flush
                self._flush()
                self.connected.set()
                attempt = 0
                await self._watch(link)
            except HandshakeError as exc:
                log.warning("kalshi ws: handshake refused: HTTP %s", exc.status)
                if exc.status in (401, 403) and self.spare_signers:
                    # the venue refused this key (docs /websockets: connections use the API
                    # key authentication of REST, whose 401 is a refused key): the next account's
                    self.signer = self.spare_signers.pop(0)
                    log.warning("kalshi ws: signing with another account's key from now on")
            except VenueError as exc:  # the grid check's REST request failed: try again later
                log.warning("kalshi ws: market grids not checked: %s", exc)
            except (OSError, TimeoutError, WebSocketException) as exc:
                if not self._stop.is_set():
                    log.info("kalshi ws: connection lost: %s", exc or type(exc).__name__)
            finally:
                if link is not None:
                    link.abort()
                self._link = None
                self.connected.clear()
                self.valid.clear()
                self._synced.clear()
            if self._stop.is_set():
                break
            self.stats.reconnects += 1
            delay = min(self.max_backoff_s, self.backoff_s * (1 << min(attempt, 16)))
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay * (0.5 + random.random() / 2))

    def _on_text(self, raw: Buffer) -> None:
        lat = self.latencies
        if lat is None:
            self.process(raw)
        else:
            t0 = time.perf_counter_ns()
            self.process(raw)
            lat.append(time.perf_counter_ns() - t0)

    def _flush(self) -> None:
        link = self._link
        try:
            while self.outbox and link is not None:
                link.send_text(msgspec.json.encode(self.outbox[0]).decode())
                self.outbox.pop(0)
        except ConnectionError:
            pass  # closing: the reconnect resubscribes from scratch

    async def _watch(self, link: WsLink) -> None:
        """Wait for the connection to end; ping now and then, and give up on a silent one."""
        period = self.ping_interval_s or self.idle_timeout_s / 3
        period = min(period, self.idle_timeout_s / 3)
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(link.closed), period)
                return  # closed by the server or by stop()/drop_connection()
            except TimeoutError:
                if self._stop.is_set():
                    return
                if time.monotonic() - link.last_rx > self.idle_timeout_s:
                    log.warning("kalshi ws: no data for %.0f s, reconnecting", self.idle_timeout_s)
                    return
                if self.ping_interval_s:
                    link.ping()
