"""In-process fake venue for the fast unit ring: the real matching engine behind the client protocol.

Only for tests/engine (the outer rings use the real local venues). It matches like a venue (price-time
priority, IOC remainders cancelled), accepts a repeated client order id once the first order is closed
(as Kalshi does, which is what makes resubmission dangerous), counts submissions per client id, and can
inject the faults a saga must survive: timeouts before or after the order lands, 5xx, rejections,
hangs and late landings.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from arbiter.core.book import Outcome
from arbiter.core.fees import FeeModel, NoFees
from arbiter.core.matching import MatchingBook, Order, OrderSide
from arbiter.core.matching import TimeInForce as MTif
from arbiter.core.units import Money, Price, Size
from arbiter.venues.base import (
    Action,
    FillReport,
    NotFoundError,
    OrderAck,
    OrderRequest,
    OrderStatus,
    PositionReport,
    RejectedError,
    TimeInForce,
    TransientError,
    UnknownStatusError,
)

ME = "me"
MAKER = "maker"


@dataclass
class FakeVenue:
    venue: str
    tick: int = 100
    fee: FeeModel = field(default_factory=NoFees)
    balance_money: int = 10**6 * 10**10
    #: queue of faults for the next place_order calls
    faults: list[str] = field(default_factory=list)
    late_s: float = 0.05
    submissions: Counter[str] = field(default_factory=Counter)
    books: dict[tuple[str, Outcome], MatchingBook] = field(default_factory=dict)
    acks: dict[str, OrderAck] = field(default_factory=dict)  # order id -> latest ack
    by_cid: dict[str, list[str]] = field(default_factory=dict)
    fill_log: list[FillReport] = field(default_factory=list)
    holdings: Counter[tuple[str, Outcome]] = field(default_factory=Counter)
    _n: int = 0
    _now: int = 0
    background: set[asyncio.Task[None]] = field(default_factory=set)

    # -- test controls ----------------------------------------------------------------------
    def book(self, market: str, outcome: Outcome) -> MatchingBook:
        key = (market, outcome)
        if key not in self.books:
            self.books[key] = MatchingBook(f"{market}:{outcome.value}", tick=self.tick)
        return self.books[key]

    def add_liquidity(self, market: str, outcome: Outcome, side: str, price: int, size: int) -> None:
        self._n += 1
        self._now += 1
        order = Order(f"mk{self._n}", MAKER, OrderSide.SELL if side == "ask" else OrderSide.BUY, price, size)
        self.book(market, outcome).submit(order, self._now)

    def best(self, market: str, outcome: Outcome) -> tuple[int | None, int | None]:
        b = self.book(market, outcome)
        return b.best_bid(), b.best_ask()

    def orders_for(self, cid: str) -> int:
        return len(self.by_cid.get(cid, []))

    # -- matching -----------------------------------------------------------------------------
    def _apply(self, request: OrderRequest) -> OrderAck:
        self._n += 1
        self._now += 1
        oid = f"{self.venue}-o{self._n}"
        side = OrderSide.BUY if request.action is Action.BUY else OrderSide.SELL
        if side is OrderSide.SELL and self.holdings[(request.market, request.outcome)] < request.size:
            raise RejectedError("insufficient_position", "not enough to sell", 400)
        tif = MTif.IOC if request.tif is TimeInForce.IOC else MTif.GTC
        order = Order(oid, ME, side, int(request.price), int(request.size), tif=tif)
        result = self.book(request.market, request.outcome).submit(order, self._now)
        cost = 0
        fills = []
        for f in result.fills:
            cost += f.price * f.size
            fills.append((f.price, f.size))
        filled = result.filled
        fee = self.fee.order_fee(fills) if fills else Money(0)
        for f in result.fills:
            self.fill_log.append(FillReport(
                self.venue, f.trade_id, oid, request.client_order_id, request.market, request.outcome,
                request.action, Price(f.price), Size(f.size), Money(0), True, self._now))
        sign = 1 if side is OrderSide.BUY else -1
        self.holdings[(request.market, request.outcome)] += sign * filled
        status = (OrderStatus.OPEN if order.status.value == "resting"
                  else OrderStatus.FILLED if filled == request.size else OrderStatus.CANCELED)
        ack = OrderAck(
            self.venue, oid, request.client_order_id, request.market, request.outcome, request.action,
            request.price, request.size, Size(filled), Size(order.remaining), status,
            Price(cost // filled) if filled and cost % filled == 0 else None, fee,
        )
        if filled and cost % filled:
            raise AssertionError("tests use single-level fills or exact averages")
        self.acks[oid] = ack
        self.by_cid.setdefault(request.client_order_id, []).append(oid)
        return ack

    # -- ExchangeClient ----------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        fault = self.faults.pop(0) if self.faults else None
        await asyncio.sleep(0)
        if fault == "timeout_before" or fault == "5xx":
            raise TransientError("http_503", "service unavailable", 503)
        if fault == "reject":
            raise RejectedError("market_closed", "market is closed", 400)
        if fault == "hang_before":
            await asyncio.sleep(3600)
        if fault == "late":
            async def land() -> None:
                await asyncio.sleep(self.late_s)
                self.submissions[request.client_order_id] += 1
                self._apply(request)
            task = asyncio.create_task(land())
            self.background.add(task)
            task.add_done_callback(self.background.discard)
            raise TransientError("timeout", "request timed out", None)
        self.submissions[request.client_order_id] += 1
        ack = self._apply(request)
        if fault == "timeout_after":
            raise TransientError("timeout", "request timed out", None)
        if fault == "unknown_status_after":  # landed, but answered with a state nobody maps
            raise UnknownStatusError("UNKNOWN_ORDER_STATUS", "order status 'SOMETHING_NEW'")
        if fault == "hang_after":
            await asyncio.sleep(3600)
        return ack

    async def cancel_order(self, order_id: str) -> OrderAck:
        ack = self.acks.get(order_id)
        if ack is None:
            raise NotFoundError("not_found", order_id, 404)
        if ack.status is OrderStatus.OPEN:
            for book in self.books.values():
                if book.get(order_id) is not None and book.get(order_id).is_open:  # type: ignore[union-attr]
                    book.cancel(order_id, self._now)
            ack = OrderAck(ack.venue, ack.order_id, ack.client_order_id, ack.market, ack.outcome,
                           ack.action, ack.price, ack.size, ack.filled, Size(0), OrderStatus.CANCELED,
                           ack.avg_fill_price, ack.fees)
            self.acks[order_id] = ack
        return ack

    async def get_order(self, order_id: str | None = None, *, client_order_id: str | None = None) -> OrderAck:
        await asyncio.sleep(0)
        if order_id is not None and order_id in self.acks:
            return self.acks[order_id]
        if client_order_id is not None and client_order_id in self.by_cid:
            return self.acks[self.by_cid[client_order_id][-1]]
        raise NotFoundError("not_found", f"{order_id or client_order_id}", 404)

    async def open_orders(self, market: str | None = None) -> list[OrderAck]:
        return [a for a in self.acks.values() if a.status is OrderStatus.OPEN
                and (market is None or a.market == market)]

    async def fills(self, since_ms: int | None = None) -> list[FillReport]:
        return list(self.fill_log)

    async def positions(self) -> list[PositionReport]:
        return [PositionReport(self.venue, m, o, Size(s)) for (m, o), s in self.holdings.items() if s]

    async def balance(self) -> Money:
        return Money(self.balance_money)

    async def close(self) -> None:
        for task in list(self.background):
            task.cancel()
