"""L2 order books on a bounded price grid, in the two shapes the venues publish.

A binary contract's price lives in (0, 1) on a known tick, so a side of a book is a plain list
indexed by ``price // tick`` plus a cached best index: best bid/ask is O(1), an update is O(1)
except when it empties the best level (then a scan to the next non-empty level, bounded by the
grid). No dicts, no sorting, no allocation per update.

* :class:`KalshiBook` holds YES bids and NO bids only, as Kalshi publishes them; a NO bid at q is
  a YES ask at 1 - q, so asks are *views* of the opposite bid ladder (``complement=True``).
* :class:`TokenBook` holds bids and asks of one Polymarket outcome token; a market is two tokens.

Every mutation validates first and keeps the last good state when it raises a :class:`BookError`
(off-grid price, negative size, a crossed result), so a bad frame never corrupts a book.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum

from arbiter.core.price_grid import PriceGrid
from arbiter.core.units import PRICE_SCALE, format_price

__all__ = [
    "AskView",
    "BookError",
    "CrossedBookError",
    "InvalidUpdateError",
    "KalshiBook",
    "Ladder",
    "OffGridLevelError",
    "Outcome",
    "Side",
    "TokenBook",
]


class Outcome(StrEnum):
    YES = "yes"
    NO = "no"

    @property
    def other(self) -> Outcome:
        return Outcome.NO if self is Outcome.YES else Outcome.YES


class Side(StrEnum):
    BID = "bid"
    ASK = "ask"


class BookError(ValueError):
    """An update a book refused; the book still holds its last good state."""


class InvalidUpdateError(BookError):
    """Off-grid or out-of-range price, negative or malformed size."""


class CrossedBookError(BookError):
    """The update would leave best bid >= best ask."""


class Ladder:
    """One side of a book: resting size per price level on a tick grid."""

    __slots__ = ("best", "count", "is_bid", "levels", "sizes", "tick", "total", "version")

    def __init__(self, tick: int, is_bid: bool) -> None:
        if tick <= 0 or PRICE_SCALE % tick:
            raise InvalidUpdateError(f"tick {tick} does not divide the price scale {PRICE_SCALE}")
        self.tick = tick
        self.is_bid = is_bid
        self.levels = PRICE_SCALE // tick
        self.sizes: list[int] = [0] * (self.levels + 1)
        #: best index; the sentinels 0 (bids) and ``levels`` (asks) mean "empty"
        self.best = 0 if is_bid else self.levels
        self.count = 0
        self.total = 0
        #: bumped by every change of a size or of the grid: equal versions of one ladder mean
        #: equal contents (detection's memo of a fruitless sizing search compares versions, not
        #: a copy of the sizes)
        self.version = 0

    # -- queries --------------------------------------------------------------------------
    def index_of(self, price: int) -> int:
        """Grid index of ``price``, or :class:`InvalidUpdateError` if it is not a legal price."""
        if 0 < price < PRICE_SCALE and not price % self.tick:
            return price // self.tick
        if not 0 < price < PRICE_SCALE:
            raise InvalidUpdateError(f"price {price} is outside (0, 1)")
        raise InvalidUpdateError(f"price {format_price(price)} is off the {format_price(self.tick)} tick")

    @property
    def best_price(self) -> int | None:
        if self.count == 0:
            return None
        return self.best * self.tick

    @property
    def best_size(self) -> int:
        return self.sizes[self.best] if self.count else 0

    def size_at(self, price: int) -> int:
        return self.sizes[self.index_of(price)]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """(price, size) from the best level outward."""
        sizes, tick, left = self.sizes, self.tick, self.count
        if not left:
            return
        step = -1 if self.is_bid else 1
        i = self.best
        while left:
            size = sizes[i]
            if size:
                yield i * tick, size
                left -= 1
            i += step

    def depth(self, levels: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for level in self:
            if len(out) == levels:
                break
            out.append(level)
        return out

    # -- mutation -------------------------------------------------------------------------
    def set_index(self, index: int, size: int) -> int:
        """Set the size at a grid index; returns the previous size (for rollback)."""
        sizes = self.sizes
        old = sizes[index]
        if size == old:
            return old
        sizes[index] = size
        self.version += 1
        self.total += size - old
        if size:
            if not old:
                self.count += 1
                if self.is_bid:
                    if index > self.best:
                        self.best = index
                elif index < self.best:
                    self.best = index
        else:
            self.count -= 1
            if index == self.best:
                self._rescan()
        return old

    def _rescan(self) -> None:
        sizes = self.sizes
        if self.is_bid:
            if not self.count:
                self.best = 0
                return
            i = self.best - 1
            while not sizes[i]:
                i -= 1
            self.best = i
        else:
            if not self.count:
                self.best = self.levels
                return
            i = self.best + 1
            while not sizes[i]:
                i += 1
            self.best = i

    def clear(self) -> None:
        self.sizes = [0] * (self.levels + 1)
        self.best = 0 if self.is_bid else self.levels
        self.count = 0
        self.total = 0
        self.version += 1

    def load(self, levels: Iterable[tuple[int, int]]) -> None:
        """Replace the whole ladder; validates everything before touching any state."""
        staged: dict[int, int] = {}
        for price, size in levels:
            index = self.index_of(price)
            if size <= 0:
                raise InvalidUpdateError(
                    f"snapshot level {format_price(price)} has non-positive size {size}"
                )
            if index in staged:
                raise InvalidUpdateError(f"snapshot repeats price level {format_price(price)}")
            staged[index] = size
        self.clear()
        for index, size in staged.items():
            self.set_index(index, size)

    def adopt(self, other: Ladder) -> None:
        """Take over ``other``'s state in place, so views holding this ladder stay valid."""
        self.tick, self.levels, self.sizes = other.tick, other.levels, other.sizes
        self.best, self.count, self.total = other.best, other.count, other.total
        self.version += 1

    def retick(self, tick: int) -> Ladder:
        """A copy of this ladder on a new grid; raises if a resting level is off the new grid."""
        new = Ladder(tick, self.is_bid)
        new.load(self)
        return new


def _check_size(size: int) -> None:
    if type(size) is not int or size < 0:
        raise InvalidUpdateError(f"size must be a non-negative integer, got {size!r}")


class AskView:
    """What it costs to *buy* an outcome: either an ask ladder or the complement of a bid ladder.

    Detection and sizing only ever need this view, so they work on both venues' shapes alike.
    """

    __slots__ = ("complement", "ladder")

    def __init__(self, ladder: Ladder, complement: bool) -> None:
        self.ladder = ladder
        self.complement = complement

    @property
    def best_price(self) -> int | None:
        ladder = self.ladder
        if not ladder.count:
            return None
        price = ladder.best * ladder.tick
        return PRICE_SCALE - price if self.complement else price

    @property
    def best_size(self) -> int:
        return self.ladder.best_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.complement:
            for price, size in self.ladder:
                yield PRICE_SCALE - price, size
        else:
            yield from self.ladder


class OffGridLevelError(InvalidUpdateError):
    """A level the market's price grid does not allow (e.g. $0.155 on a tapered deci-cent
    market, where only the tails below $0.10 and above $0.90 step by $0.001)."""


class KalshiBook:
    """A Kalshi market book: YES bids and NO bids; asks are implied by the opposite bids.

    ``grid`` is the market's own price grid (``price_level_structure`` / ``price_ranges``); the
    ladders index on its finest step and a level the grid does not allow is refused with
    :class:`OffGridLevelError` naming the market. Without a grid, ``tick`` is a uniform grid.
    """

    __slots__ = ("_no_valid", "_yes_valid", "grid", "no_bids", "seq", "tick", "ticker", "ts_ns",
                 "yes_bids")

    def __init__(self, ticker: str, tick: int = 100, grid: PriceGrid | None = None) -> None:
        self.ticker = ticker
        self.grid = grid if grid is not None else PriceGrid.uniform(tick)
        self.tick = tick = self.grid.tick
        self._yes_valid = self.grid.valid
        # a NO bid at q is a YES ask at 1 - q: legal when 1 - q is (the same grid when symmetric)
        self._no_valid = self.grid.mirrored()
        self.yes_bids = Ladder(tick, is_bid=True)
        self.no_bids = Ladder(tick, is_bid=True)
        self.ts_ns = 0
        self.seq = 0

    def _off_grid(self, outcome: Outcome, price: int) -> OffGridLevelError:
        return OffGridLevelError(
            f"{self.ticker}: {outcome.value} bid {format_price(price)} is not on the market's "
            f"price grid ({self.grid.describe()})"
        )

    def _check_levels(self, outcome: Outcome, levels: list[tuple[int, int]]) -> None:
        valid = self._yes_valid if outcome is Outcome.YES else self._no_valid
        if valid is None:
            return
        tick = self.tick
        for price, _ in levels:
            if 0 < price < PRICE_SCALE and not price % tick and not valid[price // tick]:
                raise self._off_grid(outcome, price)

    def bids(self, outcome: Outcome) -> Ladder:
        return self.yes_bids if outcome is Outcome.YES else self.no_bids

    def asks(self, outcome: Outcome) -> AskView:
        """Buying YES lifts the best NO bid (at 1 - its price), and vice versa."""
        return AskView(self.no_bids if outcome is Outcome.YES else self.yes_bids, True)

    def best_bid(self, outcome: Outcome) -> int | None:
        return self.bids(outcome).best_price

    def best_ask(self, outcome: Outcome) -> int | None:
        bid = self.bids(outcome.other).best_price
        return None if bid is None else PRICE_SCALE - bid

    def apply_snapshot(
        self,
        yes: Iterable[tuple[int, int]],
        no: Iterable[tuple[int, int]],
        ts_ns: int,
        seq: int = 0,
    ) -> None:
        """Replace both ladders atomically."""
        yes, no = list(yes), list(no)
        self._check_levels(Outcome.YES, yes)
        self._check_levels(Outcome.NO, no)
        yes_new = Ladder(self.tick, True)
        no_new = Ladder(self.tick, True)
        yes_new.load(yes)
        no_new.load(no)
        if yes_new.count and no_new.count and (yes_new.best + no_new.best) * self.tick >= PRICE_SCALE:
            raise CrossedBookError(
                f"{self.ticker}: snapshot YES bid {format_price(yes_new.best * self.tick)} + NO bid "
                f"{format_price(no_new.best * self.tick)} >= 1"
            )
        self.yes_bids.adopt(yes_new)
        self.no_bids.adopt(no_new)
        self.ts_ns = ts_ns
        self.seq = seq

    def apply_delta(self, outcome: Outcome, price: int, delta: int, ts_ns: int) -> None:
        """Kalshi ``orderbook_delta``: change the resting size at ``price`` by ``delta``."""
        if outcome is Outcome.YES:
            ladder, valid = self.yes_bids, self._yes_valid
        else:
            ladder, valid = self.no_bids, self._no_valid
        index = ladder.index_of(price)
        if valid is not None and not valid[index]:
            raise self._off_grid(outcome, price)
        new = ladder.sizes[index] + delta
        if new < 0:
            raise InvalidUpdateError(
                f"{self.ticker}: delta {delta} at {outcome.value} {format_price(price)} "
                f"leaves negative size {new}"
            )
        self._set(ladder, index, new, ts_ns)

    def set_level(self, outcome: Outcome, price: int, size: int, ts_ns: int) -> None:
        """Set the absolute resting size at a level (0 removes it)."""
        _check_size(size)
        ladder = self.yes_bids if outcome is Outcome.YES else self.no_bids
        self._check_levels(outcome, [(price, size)])
        self._set(ladder, ladder.index_of(price), size, ts_ns)

    def _set(self, ladder: Ladder, index: int, size: int, ts_ns: int) -> None:
        old = ladder.set_index(index, size)
        if size > old:
            yes, no = self.yes_bids, self.no_bids
            if yes.count and no.count and (yes.best + no.best) * self.tick >= PRICE_SCALE:
                ladder.set_index(index, old)
                raise CrossedBookError(
                    f"{self.ticker}: bid at {format_price(index * ladder.tick)} would cross the book"
                )
        self.ts_ns = ts_ns


class TokenBook:
    """A Polymarket outcome-token book: bids and asks on the token's tick grid."""

    __slots__ = ("asks", "asset_id", "bids", "min_order_size", "tick", "ts_ns")

    def __init__(self, asset_id: str, tick: int = 100, min_order_size: int = 0) -> None:
        self.asset_id = asset_id
        self.tick = tick
        self.bids = Ladder(tick, is_bid=True)
        self.asks = Ladder(tick, is_bid=False)
        self.min_order_size = min_order_size
        self.ts_ns = 0

    def ask_view(self) -> AskView:
        return AskView(self.asks, False)

    @property
    def best_bid(self) -> int | None:
        return self.bids.best_price

    @property
    def best_ask(self) -> int | None:
        return self.asks.best_price

    def apply_snapshot(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        ts_ns: int,
        tick: int | None = None,
    ) -> None:
        """Replace both sides atomically (a ``book`` frame or a REST ``/book`` answer)."""
        grid = self.tick if tick is None else tick
        bids_new = Ladder(grid, True)
        asks_new = Ladder(grid, False)
        bids_new.load(bids)
        asks_new.load(asks)
        if bids_new.count and asks_new.count and bids_new.best >= asks_new.best:
            raise CrossedBookError(
                f"{self.asset_id}: snapshot bid {format_price(bids_new.best * grid)} >= ask "
                f"{format_price(asks_new.best * grid)}"
            )
        self.tick = grid
        self.bids.adopt(bids_new)
        self.asks.adopt(asks_new)
        self.ts_ns = ts_ns

    def set_level(self, side: Side, price: int, size: int, ts_ns: int) -> None:
        """Polymarket ``price_change``: the new absolute size at a level (0 removes it)."""
        _check_size(size)
        ladder = self.bids if side is Side.BID else self.asks
        index = ladder.index_of(price)
        old = ladder.set_index(index, size)
        if size > old and self.bids.count and self.asks.count and self.bids.best >= self.asks.best:
            ladder.set_index(index, old)
            raise CrossedBookError(
                f"{self.asset_id}: {side.value} at {format_price(price)} would cross the book"
            )
        self.ts_ns = ts_ns

    def set_tick(self, tick: int, ts_ns: int) -> None:
        """``tick_size_change``: move both ladders to the new grid (all-or-nothing)."""
        bids, asks = self.bids.retick(tick), self.asks.retick(tick)
        self.tick = tick
        self.bids.adopt(bids)
        self.asks.adopt(asks)
        self.ts_ns = ts_ns
