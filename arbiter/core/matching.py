"""Order-level (L3) price-time-priority matching engine, shared by the venue simulators.

One :class:`MatchingBook` per instrument, on a single YES price axis (see
docs/adr/0010-matching-engine.md). Both venues reduce to it: Kalshi's "buy NO at q" is a SELL at
``1 - q`` on the YES axis, and Polymarket's complementary "BUY NO-token at q" is the same SELL, a
mint match when it meets a YES bid. The engine knows only BUY/SELL; everything venue-specific
(outcome, original price, client ids) rides along in the opaque ``Order.meta`` and comes back on
every :class:`Fill`, so the simulators translate at their edge and the engine stays one piece of
code that the sims and the backtest exchange can trust alike.

Determinism is a contract, not an accident: no wall clock (``now_ns`` is always passed in), no
randomness, no hashing-order dependence; trade ids come from a per-book counter. The same stream of
calls therefore yields identical fills, ids and level changes, which is what lets a backtest replay
reproduce a simulator session bit for bit.

Size bookkeeping of an order, at every moment::

    size == filled + remaining + (size withdrawn by cancel / IOC remainder / expiry / amend)

``remaining`` is the *open* quantity: it is zeroed whenever an order finishes (Kalshi's "cancel
zeroes the remaining count"), so ``size - filled`` is what a venue reports as canceled.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from arbiter.core.units import PRICE_SCALE, format_price

__all__ = [
    "DuplicateOrderError",
    "Fill",
    "InvalidOrderError",
    "InvalidPriceError",
    "InvalidSizeError",
    "LevelChange",
    "MatchResult",
    "MatchingBook",
    "MatchingError",
    "Order",
    "OrderSide",
    "OrderStatus",
    "SelfTradePolicy",
    "TimeInForce",
    "UnknownOrderError",
]


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class TimeInForce(StrEnum):
    """GTD is GTC plus ``Order.expires_at_ns``; Polymarket's FAK is IOC."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    #: constructed, not yet submitted (the engine sets a final or resting status on submit)
    PENDING = "pending"
    RESTING = "resting"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class SelfTradePolicy(StrEnum):
    """What happens when a taker meets a resting order of the same account.

    ``cancel_resting`` (default) mirrors what both venues are reported to do for a trader crossing
    their own quote: the stale resting order goes, the new intent survives and keeps matching.
    """

    CANCEL_RESTING = "cancel_resting"
    ALLOW = "allow"


#: reject reasons carried on :attr:`MatchResult.reject_reason`
REJECT_FOK = "fok_not_filled"
REJECT_POST_ONLY = "post_only_would_cross"
REJECT_EXPIRED = "expired"


class MatchingError(ValueError):
    """An engine call the caller got wrong; nothing in the book changed."""


class InvalidPriceError(MatchingError):
    """Price outside (0, 1) or off the book's tick."""


class InvalidSizeError(MatchingError):
    """Size not positive or not a multiple of the book's lot."""


class InvalidOrderError(MatchingError):
    """An inconsistent order (e.g. post-only with IOC/FOK, wrong field types)."""


class DuplicateOrderError(MatchingError):
    """The order id was already used on this book."""


class UnknownOrderError(MatchingError, KeyError):
    """No open order with this id (never existed, or already filled/canceled/expired)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(slots=True, eq=False)
class Order:
    """An order as the engine sees it; identity-compared (two orders are never "equal").

    The engine mutates ``remaining``, ``filled``, ``status``, ``created_ns`` and ``seq``; callers
    own everything else and must not change it while the order rests.
    """

    order_id: str
    account: str
    side: OrderSide
    price: int
    size: int
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    expires_at_ns: int | None = None
    meta: Any = None
    #: open quantity; ``-1`` means "not yet set" and becomes ``size`` on construction
    remaining: int = -1
    filled: int = 0
    status: OrderStatus = OrderStatus.PENDING
    created_ns: int = 0
    #: engine-assigned arrival sequence (1, 2, ...) per book: the "time" in price-time priority
    seq: int = 0

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.size

    @property
    def is_open(self) -> bool:
        return self.status is OrderStatus.RESTING


@dataclass(slots=True, frozen=True)
class Fill:
    trade_id: str
    taker_order_id: str
    maker_order_id: str
    taker_account: str
    maker_account: str
    taker_side: OrderSide
    #: the maker's (resting) price on the YES axis
    price: int
    size: int
    ts_ns: int
    taker_meta: Any
    maker_meta: Any
    #: maker's open quantity after this fill (0 = maker fully filled)
    maker_remaining: int = 0
    #: taker's open quantity after this fill
    taker_remaining: int = 0


@dataclass(slots=True)
class LevelChange:
    side: OrderSide
    price: int
    #: new aggregate resting size at ``price`` (0 = the level is gone)
    size: int


@dataclass(slots=True)
class MatchResult:
    """Everything one engine call did, in the order the simulators need to publish it.

    ``level_changes`` hold one entry per (side, price) whose aggregate changed during the call,
    with the final size, in order of first touch; they are exactly the diff of :meth:`depth`.
    """

    order: Order
    fills: list[Fill] = field(default_factory=list)
    level_changes: list[LevelChange] = field(default_factory=list)
    reject_reason: str | None = None
    #: resting orders of the taker's account canceled by the self-trade policy
    self_trade_canceled: list[Order] = field(default_factory=list)
    #: other resting orders that expired at the start of this call (GTD ``expires_at_ns <= now``)
    expired: list[Order] = field(default_factory=list)

    @property
    def filled(self) -> int:
        return sum(f.size for f in self.fills)


class _Half:
    """One side of the book: FIFO queue and aggregate per price, plus sorted price keys.

    Keys are ``price * sign`` kept ascending, so the best level is always ``keys[-1]`` for both
    sides (bids: sign +1; asks: sign -1) and removing the best level is an O(1) ``pop()``.
    """

    __slots__ = ("keys", "queues", "side", "sign", "sizes")

    def __init__(self, side: OrderSide) -> None:
        self.side = side
        self.sign = 1 if side is OrderSide.BUY else -1
        self.keys: list[int] = []
        self.queues: dict[int, deque[Order]] = {}
        self.sizes: dict[int, int] = {}

    def best(self) -> int | None:
        return self.keys[-1] * self.sign if self.keys else None

    def add(self, order: Order) -> None:
        price = order.price
        queue = self.queues.get(price)
        if queue is None:
            queue = self.queues[price] = deque()
            self.sizes[price] = 0
            insort(self.keys, price * self.sign)
        queue.append(order)
        self.sizes[price] += order.remaining

    def drop_level(self, price: int) -> None:
        del self.queues[price]
        del self.sizes[price]
        key = price * self.sign
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def remove(self, order: Order) -> None:
        """Take a resting order out of its queue (cancel/expiry); identity scan runs in C."""
        price = order.price
        self.queues[price].remove(order)
        left = self.sizes[price] - order.remaining
        if left:
            self.sizes[price] = left
        else:
            self.drop_level(price)

    def prices(self) -> list[int]:
        """Prices best first."""
        sign = self.sign
        return [k * sign for k in reversed(self.keys)]


class MatchingBook:
    """A price-time-priority limit order book for one instrument on the YES price axis.

    ``tick`` (price units) and ``lot`` (size units) validate new orders only; a simulator may
    change ``book.tick`` at any time (Polymarket ``tick_size_change``) and resting orders stay.
    """

    __slots__ = (
        "_asks",
        "_bids",
        "_expiry",
        "_open",
        "_open_by_account",
        "_orders",
        "_seq",
        "_trade_n",
        "instrument",
        "lot",
        "self_trade",
        "tick",
    )

    def __init__(
        self,
        instrument: str,
        tick: int = 100,
        lot: int = 1,
        self_trade: str = "cancel_resting",
    ) -> None:
        if tick <= 0 or lot <= 0:
            raise MatchingError(f"tick and lot must be positive, got tick={tick} lot={lot}")
        try:
            self.self_trade = SelfTradePolicy(self_trade)
        except ValueError:
            raise MatchingError(
                f"self_trade must be one of {[p.value for p in SelfTradePolicy]}, got {self_trade!r}"
            ) from None
        self.instrument = instrument
        self.tick = tick
        self.lot = lot
        self._bids = _Half(OrderSide.BUY)
        self._asks = _Half(OrderSide.SELL)
        #: every accepted order (open or finished) by id, for get() and duplicate detection
        self._orders: dict[str, Order] = {}
        #: open orders in arrival order
        self._open: dict[str, Order] = {}
        self._open_by_account: dict[str, dict[str, Order]] = {}
        #: (expires_at_ns, seq, order) for resting GTD orders; stale entries are skipped lazily
        self._expiry: list[tuple[int, int, Order]] = []
        self._seq = 0
        self._trade_n = 0

    # -- queries ------------------------------------------------------------------------------
    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def open_orders(self, account: str | None = None) -> list[Order]:
        """Resting orders in arrival (seq) order, optionally of one account."""
        if account is None:
            return list(self._open.values())
        return list(self._open_by_account.get(account, {}).values())

    def best_bid(self) -> int | None:
        return self._bids.best()

    def best_ask(self) -> int | None:
        return self._asks.best()

    def depth(self, side: OrderSide, levels: int | None = None) -> list[tuple[int, int]]:
        """Aggregated (price, size) of one side, best first."""
        half = self._half(side)
        sizes, sign = half.sizes, half.sign
        keys = half.keys if levels is None else half.keys[-levels:] if levels > 0 else []
        return [(k * sign, sizes[k * sign]) for k in reversed(keys)]

    def size_at(self, side: OrderSide, price: int) -> int:
        return self._half(side).sizes.get(price, 0)

    def queue(self, side: OrderSide, price: int) -> list[Order]:
        """Resting orders at one level in time priority (queue-position models, tests)."""
        return list(self._half(side).queues.get(price, ()))

    def would_fill(
        self,
        side: OrderSide,
        price: int,
        size: int,
        account: str | None = None,
        now_ns: int | None = None,
    ) -> int:
        """How much of ``size`` would fill right now at ``price`` or better (capped at ``size``).

        With ``account`` and the ``cancel_resting`` policy, that account's own resting orders do
        not count: the engine would cancel them instead of trading against them. With ``now_ns``,
        GTD orders due to expire by then do not count either (``submit`` expires them first).
        """
        opp = self._asks if side is OrderSide.BUY else self._bids
        skip_own = account is not None and self.self_trade is SelfTradePolicy.CANCEL_RESTING
        heap = self._expiry
        cutoff = now_ns if now_ns is not None and heap and heap[0][0] <= now_ns else None
        sign = opp.sign
        total = 0
        for key in reversed(opp.keys):
            level = key * sign
            if (level > price) if side is OrderSide.BUY else (level < price):
                break
            if skip_own or cutoff is not None:
                for maker in opp.queues[level]:
                    if skip_own and maker.account == account:
                        continue
                    expires = maker.expires_at_ns
                    if cutoff is not None and expires is not None and expires <= cutoff:
                        continue
                    total += maker.remaining
            else:
                total += opp.sizes[level]
            if total >= size:
                return size
        return total

    def __len__(self) -> int:
        """Number of resting orders."""
        return len(self._open)

    # -- commands -----------------------------------------------------------------------------
    def submit(self, order: Order, now_ns: int) -> MatchResult:
        """Match ``order`` against the book, then rest/cancel its remainder by time in force.

        Validation failures raise :class:`MatchingError` and change nothing. Venue-level refusals
        (FOK not fillable, post-only crossing, already expired) come back as a REJECTED order with
        ``reject_reason``; they are not recorded (the id stays free) and leave the book as it was,
        except for due GTD expiries, which every submit applies first (reported in ``expired``).
        """
        self._validate_new(order)
        touched: dict[tuple[OrderSide, int], int] = {}
        result = MatchResult(order)
        if self._expiry and self._expiry[0][0] <= now_ns:
            result.expired = self._expire_due(now_ns, touched)
        order.created_ns = now_ns
        order.filled = 0
        order.remaining = order.size
        side = order.side
        reason: str | None = None
        if order.expires_at_ns is not None and order.expires_at_ns <= now_ns:
            reason = REJECT_EXPIRED
        elif order.post_only and self._crosses(side, order.price):
            reason = REJECT_POST_ONLY
        elif order.tif is TimeInForce.FOK and (
            self.would_fill(side, order.price, order.size, order.account) < order.size
        ):
            reason = REJECT_FOK
        if reason is not None:
            order.status = OrderStatus.REJECTED
            order.remaining = 0
            result.reject_reason = reason
            result.level_changes = self._changes(touched)
            return result

        self._seq += 1
        order.seq = self._seq
        self._orders[order.order_id] = order
        if not order.post_only:
            self._match(order, now_ns, result, touched)
        if order.remaining == 0:
            order.status = OrderStatus.FILLED
        elif order.tif is TimeInForce.GTC:
            order.status = OrderStatus.RESTING
            self._rest(order, touched)
        else:  # IOC remainder (FOK never gets here unfilled)
            order.status = OrderStatus.CANCELED
            order.remaining = 0
        result.level_changes = self._changes(touched)
        return result

    def cancel(self, order_id: str, now_ns: int) -> MatchResult:
        """Cancel an open order; the (possibly partly filled) order is returned, not deleted."""
        order = self._open_order(order_id)
        touched: dict[tuple[OrderSide, int], int] = {}
        self._finish_resting(order, OrderStatus.CANCELED, touched)
        return MatchResult(order, level_changes=self._changes(touched))

    def amend_size_down(self, order_id: str, new_remaining: int, now_ns: int) -> MatchResult:
        """Reduce an open order's remaining quantity in place; time priority is kept.

        ``new_remaining`` must be positive and not above the current remaining (use
        :meth:`cancel` for zero); ``size`` is unchanged, the difference counts as withdrawn.
        """
        order = self._open_order(order_id)
        if (
            isinstance(new_remaining, bool)
            or not isinstance(new_remaining, int)
            or not 0 < new_remaining <= order.remaining
        ):
            raise InvalidSizeError(
                f"new remaining {new_remaining!r} must be in (0, {order.remaining}] "
                f"for order {order_id!r}"
            )
        if new_remaining % self.lot:
            raise InvalidSizeError(f"new remaining {new_remaining} is not a multiple of lot {self.lot}")
        touched: dict[tuple[OrderSide, int], int] = {}
        delta = order.remaining - new_remaining
        if delta:
            half = self._half(order.side)
            touched[(order.side, order.price)] = half.sizes[order.price]
            half.sizes[order.price] -= delta
            order.remaining = new_remaining
        return MatchResult(order, level_changes=self._changes(touched))

    def expire(self, now_ns: int) -> list[MatchResult]:
        """Expire every resting GTD order with ``expires_at_ns <= now_ns``, in (expiry, seq) order."""
        results: list[MatchResult] = []
        heap = self._expiry
        while heap and heap[0][0] <= now_ns:
            _, _, order = heapq.heappop(heap)
            if order.status is not OrderStatus.RESTING:
                continue
            touched: dict[tuple[OrderSide, int], int] = {}
            self._finish_resting(order, OrderStatus.EXPIRED, touched)
            results.append(MatchResult(order, level_changes=self._changes(touched)))
        return results

    def prune(self) -> int:
        """Forget finished orders (frees memory in long sims; their ids become reusable)."""
        finished = [oid for oid, o in self._orders.items() if o.status is not OrderStatus.RESTING]
        for oid in finished:
            del self._orders[oid]
        return len(finished)

    # -- internals ----------------------------------------------------------------------------
    def _half(self, side: OrderSide) -> _Half:
        return self._bids if side is OrderSide.BUY else self._asks

    def _crosses(self, side: OrderSide, price: int) -> bool:
        if side is OrderSide.BUY:
            best = self._asks.best()
            return best is not None and best <= price
        best = self._bids.best()
        return best is not None and best >= price

    def _validate_new(self, order: Order) -> None:
        price, size = order.price, order.size
        if not isinstance(order.side, OrderSide) or not isinstance(order.tif, TimeInForce):
            raise InvalidOrderError(f"order {order.order_id!r}: side/tif must be the engine enums")
        if isinstance(price, bool) or not isinstance(price, int):
            raise InvalidPriceError(f"order {order.order_id!r}: price must be an int, got {price!r}")
        if not 0 < price < PRICE_SCALE:
            raise InvalidPriceError(
                f"order {order.order_id!r}: price {price} is outside the open interval (0, 1)"
            )
        if price % self.tick:
            raise InvalidPriceError(
                f"order {order.order_id!r}: price {format_price(price)} is not a multiple of "
                f"the tick {format_price(self.tick)}"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InvalidSizeError(f"order {order.order_id!r}: size must be a positive int, got {size!r}")
        if size % self.lot:
            raise InvalidSizeError(
                f"order {order.order_id!r}: size {size} is not a multiple of the lot {self.lot}"
            )
        if order.post_only and order.tif is not TimeInForce.GTC:
            raise InvalidOrderError(
                f"order {order.order_id!r}: post-only needs GTC/GTD, got {order.tif.value}"
            )
        if order.status is not OrderStatus.PENDING or order.order_id in self._orders:
            raise DuplicateOrderError(
                f"order id {order.order_id!r} was already submitted to {self.instrument}"
            )

    def _open_order(self, order_id: str) -> Order:
        order = self._open.get(order_id)
        if order is None:
            known = self._orders.get(order_id)
            state = f"is {known.status.value}" if known is not None else "is unknown"
            raise UnknownOrderError(f"order {order_id!r} {state} on {self.instrument}")
        return order

    def _match(
        self,
        order: Order,
        now_ns: int,
        result: MatchResult,
        touched: dict[tuple[OrderSide, int], int],
    ) -> None:
        is_buy = order.side is OrderSide.BUY
        opp = self._asks if is_buy else self._bids
        opp_side = opp.side
        keys, queues, sizes, sign = opp.keys, opp.queues, opp.sizes, opp.sign
        limit = order.price
        stp = self.self_trade is SelfTradePolicy.CANCEL_RESTING
        account = order.account
        fills = result.fills
        while order.remaining and keys:
            level = keys[-1] * sign
            if (level > limit) if is_buy else (level < limit):
                break
            queue = queues[level]
            agg = sizes[level]
            if (opp_side, level) not in touched:
                touched[(opp_side, level)] = agg
            while order.remaining and queue:
                maker = queue[0]
                if stp and maker.account == account:
                    queue.popleft()
                    agg -= maker.remaining
                    maker.remaining = 0
                    maker.status = OrderStatus.CANCELED
                    self._forget_open(maker)
                    result.self_trade_canceled.append(maker)
                    continue
                qty = order.remaining if order.remaining < maker.remaining else maker.remaining
                maker.remaining -= qty
                maker.filled += qty
                order.remaining -= qty
                order.filled += qty
                agg -= qty
                self._trade_n += 1
                fills.append(
                    Fill(
                        f"{self.instrument}-T{self._trade_n}",
                        order.order_id,
                        maker.order_id,
                        account,
                        maker.account,
                        order.side,
                        level,
                        qty,
                        now_ns,
                        order.meta,
                        maker.meta,
                        maker.remaining,
                        order.remaining,
                    )
                )
                if not maker.remaining:
                    queue.popleft()
                    maker.status = OrderStatus.FILLED
                    self._forget_open(maker)
            if agg:
                sizes[level] = agg
            else:
                opp.drop_level(level)

    def _rest(self, order: Order, touched: dict[tuple[OrderSide, int], int]) -> None:
        half = self._half(order.side)
        key = (order.side, order.price)
        if key not in touched:
            touched[key] = half.sizes.get(order.price, 0)
        half.add(order)
        self._open[order.order_id] = order
        by_account = self._open_by_account.get(order.account)
        if by_account is None:
            by_account = self._open_by_account[order.account] = {}
        by_account[order.order_id] = order
        if order.expires_at_ns is not None:
            heapq.heappush(self._expiry, (order.expires_at_ns, order.seq, order))

    def _forget_open(self, order: Order) -> None:
        del self._open[order.order_id]
        by_account = self._open_by_account[order.account]
        del by_account[order.order_id]
        if not by_account:
            del self._open_by_account[order.account]

    def _finish_resting(
        self, order: Order, status: OrderStatus, touched: dict[tuple[OrderSide, int], int]
    ) -> None:
        half = self._half(order.side)
        key = (order.side, order.price)
        if key not in touched:
            touched[key] = half.sizes[order.price]
        half.remove(order)
        order.remaining = 0
        order.status = status
        self._forget_open(order)

    def _expire_due(
        self, now_ns: int, touched: dict[tuple[OrderSide, int], int]
    ) -> list[Order]:
        expired: list[Order] = []
        heap = self._expiry
        while heap and heap[0][0] <= now_ns:
            _, _, order = heapq.heappop(heap)
            if order.status is OrderStatus.RESTING:
                self._finish_resting(order, OrderStatus.EXPIRED, touched)
                expired.append(order)
        return expired

    def _changes(self, touched: dict[tuple[OrderSide, int], int]) -> list[LevelChange]:
        if not touched:
            return []
        bids, asks = self._bids.sizes, self._asks.sizes
        out: list[LevelChange] = []
        for (side, price), before in touched.items():
            now = (bids if side is OrderSide.BUY else asks).get(price, 0)
            if now != before:
                out.append(LevelChange(side, price, now))
        return out
