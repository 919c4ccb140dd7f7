"""A simulated venue: the :class:`ExchangeClient` protocol over the recorded (or live) book.

Used by backtests (with :class:`~arbiter.backtest.clock.SimClock`) and by paper trading (with
:class:`~arbiter.backtest.clock.WallClock` and the live feeds' books). Three swappable parts, each a
one-line choice (hftbacktest's builder idea):

* **Latency** (:class:`FixedLatency`, :class:`DistributionLatency`, :class:`RecordedLatency`): an
  order reaches the venue ``entry`` ns after it is sent and the answer comes back ``response``
  ns later; the book it meets is the recorded book *at arrival*, not at decision time.
* **Taker fills** walk the recorded opposite ladder up to the limit: partial fills when the book
  is thin. Liquidity we took stays "taken" until the recording changes that level, so two orders
  cannot eat the same displayed size.
* **Queue position** for resting orders, on core's :class:`~arbiter.core.matching.MatchingBook`:
  a level we join is mirrored as one *phantom* order of the displayed size, then ours behind it
  (FIFO). Recorded increases join behind us; recorded trades at our level are replayed as IOC
  sells through the mirror, so they fill the phantom ahead first and us after; recorded decreases
  that no trade explains are cancels: ``QueueModel.FIFO`` takes them from the orders *ahead* of
  us first (cancels ahead advance the queue), ``QueueModel.RISK_AVERSE`` only from behind (only
  trades advance us). A recorded book that trades *through* our price fills us at our price.

Fees use the venue fee models in :mod:`arbiter.core.fees`: Kalshi's per order (its cent rounding
is per order), Polymarket's per match (each level taken is one match, charged
:meth:`~arbiter.core.fees.PolymarketFeeModel.match_fee`, floored to $0.00001, as the venue does).
Polymarket maker rebates (docs ``/market-makers/maker-rebates``: a share of the taker fees, paid
daily from a pool) are a backtest-only estimate, off unless ``maker_rebate_share`` is set; paper
and live trading never count on them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

from arbiter.backtest.clock import Clock
from arbiter.core.book import KalshiBook, Outcome, TokenBook
from arbiter.core.fees import FeeModel, NoFees, PolymarketFeeModel
from arbiter.core.matching import MatchingBook, Order, OrderSide
from arbiter.core.matching import TimeInForce as MTif
from arbiter.core.units import PRICE_SCALE, Money, Price, Size
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
)

__all__ = [
    "DistributionLatency",
    "FixedLatency",
    "LatencyModel",
    "QueueModel",
    "RecordedLatency",
    "SimExchange",
    "latency_from_spec",
]

_MIRROR = "mirror"  # account of phantom orders standing for recorded displayed size
_OURS = "ours"
_TAPE = "tape"  # account of the IOC sells replaying recorded trades


class QueueModel(StrEnum):
    FIFO = "fifo"
    RISK_AVERSE = "risk_averse"


# -- latency -------------------------------------------------------------------------------------


class LatencyModel:
    """Returns (entry, response) latencies in ns; ``rng`` is the exchange's seeded generator."""

    def sample(self, rng: random.Random) -> tuple[int, int]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class FixedLatency(LatencyModel):
    entry_ns: int = 0
    response_ns: int = 0

    def sample(self, rng: random.Random) -> tuple[int, int]:
        return self.entry_ns, self.response_ns

    def describe(self) -> str:
        return f"fixed:{self.entry_ns // 1_000_000}ms"


@dataclass(frozen=True, slots=True)
class DistributionLatency(LatencyModel):
    """Log-normal one-way latency around ``median_ns`` (heavy right tail, like real networks)."""

    median_ns: int
    sigma: float = 0.5
    floor_ns: int = 0

    def sample(self, rng: random.Random) -> tuple[int, int]:
        a = max(self.floor_ns, int(self.median_ns * rng.lognormvariate(0.0, self.sigma)))
        b = max(self.floor_ns, int(self.median_ns * rng.lognormvariate(0.0, self.sigma)))
        return a, b

    def describe(self) -> str:
        return f"lognormal:{self.median_ns // 1_000_000}ms"


@dataclass(frozen=True, slots=True)
class RecordedLatency(LatencyModel):
    """Replays measured (entry, response) pairs, e.g. from live order timestamps, in a seeded order."""

    samples: tuple[tuple[int, int], ...]

    def sample(self, rng: random.Random) -> tuple[int, int]:
        if not self.samples:
            return 0, 0
        return self.samples[rng.randrange(len(self.samples))]

    def describe(self) -> str:
        return f"recorded:{len(self.samples)}"


def latency_from_journal(path: str, venue: str) -> RecordedLatency:
    """Round trips measured by a live or paper engine: intent → acknowledged final, per order.

    Read from the engine's journal (stop the engine first, or use a copy: a journal has one
    owner); each round trip is split evenly into entry and response latency.
    """
    from arbiter.core.saga import Intent, OrderFinal
    from arbiter.execution.journal import Journal

    samples: list[tuple[int, int]] = []
    with Journal(path, synchronous="NORMAL") as journal:
        for saga_id in journal.saga_ids():
            sent: dict[str, int] = {}
            for event in journal.events(saga_id):
                if isinstance(event, Intent) and event.venue == venue:
                    sent[event.step] = event.ts_ns
                elif isinstance(event, OrderFinal) and event.source == "ack" and event.step in sent:
                    rtt = max(0, event.ts_ns - sent[event.step])
                    samples.append((rtt // 2, rtt - rtt // 2))
    return RecordedLatency(tuple(samples))


def latency_from_spec(spec: str, venue: str = "kalshi") -> LatencyModel:
    """``fixed:25`` (round trip ms), ``lognormal:25[:0.5]`` (one-way median ms, sigma),
    ``recorded:FILE`` (lines ``entry_ms response_ms``) or ``journal:FILE`` (round trips of
    ``venue``'s orders in an engine journal)."""
    kind, _, rest = spec.partition(":")
    try:
        if kind == "journal":
            if not Path(rest).is_file():
                raise OSError(f"no journal at {rest}")
            return latency_from_journal(rest, venue)
        if kind == "fixed":
            ms = float(rest or "0")
            return FixedLatency(int(ms * 1e6) // 2, int(ms * 1e6) - int(ms * 1e6) // 2)
        if kind == "lognormal":
            median, _, sigma = rest.partition(":")
            return DistributionLatency(int(float(median) * 1e6), float(sigma or "0.5"))
        if kind == "recorded":
            pairs = []
            for line in Path(rest).read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    a, b = line.split()[:2]
                    pairs.append((int(float(a) * 1e6), int(float(b) * 1e6)))
            return RecordedLatency(tuple(pairs))
    except (ValueError, OSError) as exc:
        raise ValueError(f"bad latency spec {spec!r}: {exc}") from None
    raise ValueError(
        f"bad latency spec {spec!r}: use fixed:MS, lognormal:MS[:SIGMA], recorded:FILE or journal:FILE")


# -- orders ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _SimOrder:
    order_id: str
    request: OrderRequest
    ladder: int  # the ladder it rests on (see module doc of events)
    ladder_price: int
    status: OrderStatus = OrderStatus.OPEN
    filled: int = 0
    cost: int = 0  # money of fills at the outcome price
    fees: int = 0
    maker_terms: list[tuple[int, int]] = field(default_factory=list)
    ts_ns: int = 0

    def ack(self, venue: str) -> OrderAck:
        req = self.request
        remaining = req.size - self.filled if self.status is OrderStatus.OPEN else 0
        return OrderAck(
            venue=venue, order_id=self.order_id, client_order_id=req.client_order_id,
            market=req.market, outcome=req.outcome, action=req.action, price=req.price,
            size=req.size, filled=Size(self.filled), remaining=Size(remaining), status=self.status,
            avg_fill_price=Price(self.cost // self.filled) if self.filled else None,
            fees=Money(self.fees), ts_ms=self.ts_ns // 1_000_000, simulated=True,
        )


class SimExchange:
    """One simulated venue account. ``venue`` is ``kalshi`` or ``polymarket``.

    ``book(market)`` returns the recorded core book (Kalshi: the ticker's :class:`KalshiBook`;
    Polymarket: the token's :class:`TokenBook`). The replayer (or a paper-trading feed) must call
    :meth:`on_level` / :meth:`on_trade` for markets in :attr:`watched` as the recording changes.
    """

    def __init__(
        self,
        venue: str,
        book: Callable[[str], KalshiBook | TokenBook],
        clock: Clock,
        *,
        latency: LatencyModel | None = None,
        queue_model: QueueModel = QueueModel.FIFO,
        taker_fees: Mapping[str, FeeModel] | None = None,
        maker_fees: Mapping[str, FeeModel] | None = None,
        cash: int = 0,
        seed: int = 0,
        maker_rebate_share: Fraction = Fraction(0),
    ) -> None:
        if venue not in ("kalshi", "polymarket"):
            raise ValueError(f"unknown venue {venue!r}")
        self.venue = venue
        self.book = book
        self.clock = clock
        self.latency = latency or FixedLatency()
        self.queue_model = queue_model
        self.taker_fees = dict(taker_fees or {})
        self.maker_fees = dict(maker_fees or {})
        if not 0 <= maker_rebate_share <= 1:
            raise ValueError(f"maker rebate share {maker_rebate_share} is outside [0, 1]")
        #: backtest-only: share of the fee-equivalent of our Polymarket maker fills credited back
        self.maker_rebate_share = Fraction(maker_rebate_share)
        #: total maker rebates credited (already in ``cash``)
        self.rebates = Money(0)
        self.cash = Money(cash)
        self.rng = random.Random(f"{venue}:{seed}")
        self.orders: dict[str, _SimOrder] = {}
        self.by_cid: dict[str, _SimOrder] = {}
        self.fill_log: list[FillReport] = []
        self.holdings: dict[tuple[str, Outcome], list[int]] = {}  # -> [size, cost, fees]
        #: markets with resting orders or taken liquidity: the feed must report their changes
        self.watched: set[str] = set()
        self._queues: dict[tuple[str, int], MatchingBook] = {}
        self._taken: dict[tuple[str, int, int], int] = {}
        self._taken_keys: dict[str, set[tuple[str, int, int]]] = {}
        self._traded: dict[tuple[str, int, int], int] = {}
        self._n = 0
        self._mirror_n = 0
        self.requests = 0
        self.requested_size = 0

    # -- protocol (async) ------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        entry, response = self.latency.sample(self.rng)
        if entry:
            await self.clock.sleep_ns(entry)
        ack = self.submit_now(request)
        if response:
            await self.clock.sleep_ns(response)
        return ack

    async def cancel_order(self, order_id: str) -> OrderAck:
        entry, response = self.latency.sample(self.rng)
        if entry:
            await self.clock.sleep_ns(entry)
        ack = self.cancel_now(order_id)
        if response:
            await self.clock.sleep_ns(response)
        return ack

    async def get_order(self, order_id: str | None = None, *,
                        client_order_id: str | None = None) -> OrderAck:
        order = self.orders.get(order_id or "") or self.by_cid.get(client_order_id or "")
        if order is None:
            raise NotFoundError("not_found", f"no order {order_id or client_order_id}")
        return order.ack(self.venue)

    async def open_orders(self, market: str | None = None) -> list[OrderAck]:
        return [o.ack(self.venue) for o in self.orders.values()
                if o.status is OrderStatus.OPEN and (market is None or o.request.market == market)]

    async def fills(self, since_ms: int | None = None) -> list[FillReport]:
        return [f for f in self.fill_log if since_ms is None or f.ts_ms >= since_ms]

    async def positions(self) -> list[PositionReport]:
        return [
            PositionReport(self.venue, m, o, Size(h[0]), Money(h[1]), None, Money(h[2]))
            for (m, o), h in sorted(self.holdings.items()) if h[0]
        ]

    async def balance(self) -> Money:
        return self.cash

    async def close(self) -> None:
        return None

    # -- venue mechanics (sync) ------------------------------------------------------------------
    def _levels(self, market: str, outcome: Outcome, action: Action
                ) -> Iterator[tuple[int, int, int, int]]:
        """(ladder, ladder price, outcome price, displayed size) a taker order walks, best first."""
        book = self.book(market)
        if isinstance(book, KalshiBook):
            # buying YES lifts NO bids at 1 - p; selling YES hits YES bids (and mirror for NO)
            if action is Action.BUY:
                ladder = 1 if outcome is Outcome.YES else 0
                for price, size in book.bids(outcome.other):
                    yield ladder, price, PRICE_SCALE - price, size
            else:
                ladder = 0 if outcome is Outcome.YES else 1
                for price, size in book.bids(outcome):
                    yield ladder, price, price, size
        elif action is Action.BUY:
            for price, size in book.asks:
                yield 1, price, price, size
        else:
            for price, size in book.bids:
                yield 0, price, price, size

    def _rest_ladder(self, request: OrderRequest) -> tuple[int, int]:
        """The ladder (and price on it) a resting remainder joins."""
        if self.venue == "kalshi":
            buy_yes = (request.outcome is Outcome.YES) == (request.action is Action.BUY)
            if request.action is Action.BUY:
                return (0 if buy_yes else 1), request.price
            return (0 if buy_yes else 1), PRICE_SCALE - request.price
        return (0, request.price) if request.action is Action.BUY else (1, request.price)

    def submit_now(self, request: OrderRequest) -> OrderAck:
        """The order arrives at the venue now: match, then rest or cancel the remainder."""
        existing = self.by_cid.get(request.client_order_id)
        if existing is not None:
            return existing.ack(self.venue)
        now = self.clock.time_ns()
        self.requests += 1
        self.requested_size += request.size
        if request.size <= 0 or not 0 < request.price < PRICE_SCALE:
            raise RejectedError("invalid_order", f"bad price/size in {request.describe()}")
        if self.venue == "polymarket" and request.market not in self.taker_fees:
            # unknown is never free (ADR 0036): a token without a fee model is not traded
            raise RejectedError("FEE_UNKNOWN", f"{request.market}: no Polymarket fee model")
        self._n += 1
        ladder, lprice = self._rest_ladder(request)
        order = _SimOrder(f"{self.venue[0]}-{self._n}", request, ladder, lprice, ts_ns=now)
        self.orders[order.order_id] = order
        self.by_cid[request.client_order_id] = order
        takes: list[tuple[int, int, int, int]] = []  # ladder, ladder price, outcome price, size
        want: int = request.size
        buy = request.action is Action.BUY
        for lad, lp, op, displayed in self._levels(request.market, request.outcome, request.action):
            if want <= 0 or (op > request.price if buy else op < request.price):
                break
            free = displayed - self._taken.get((request.market, lad, lp), 0)
            if free <= 0:
                continue
            q = min(free, want)
            takes.append((lad, lp, op, q))
            want -= q
        if request.tif is TimeInForce.FOK and want > 0:
            order.status = OrderStatus.CANCELED
            return order.ack(self.venue)
        if takes and request.post_only:
            order.status = OrderStatus.CANCELED
            return order.ack(self.venue)
        if takes:
            keys = self._taken_keys.setdefault(request.market, set())
            for lad, lp, _, q in takes:
                key = (request.market, lad, lp)
                self._taken[key] = self._taken.get(key, 0) + q
                keys.add(key)
            self.watched.add(request.market)
            fee_model = self.taker_fees.get(request.market, NoFees())
            if isinstance(fee_model, PolymarketFeeModel):
                # one match per level taken, each floored by the venue: the fill carries its own
                for _, _, op, q in takes:
                    self._fill(order, op, q, fee_model.match_fee(op, q), True, now)
            else:
                fee = int(fee_model.order_fee([(op, q) for _, _, op, q in takes]))
                for i, (_, _, op, q) in enumerate(takes):
                    self._fill(order, op, q, fee if i == 0 else 0, True, now)
        if order.filled == request.size:
            order.status = OrderStatus.FILLED
        elif request.tif is TimeInForce.GTC:
            self._rest(order, request.size - order.filled)
        else:
            order.status = OrderStatus.CANCELED
        return order.ack(self.venue)

    def cancel_now(self, order_id: str) -> OrderAck:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFoundError("not_found", f"no order {order_id}")
        if order.status is OrderStatus.OPEN:
            qb = self._queues[(order.request.market, order.ladder)]
            resting = qb.get(order.order_id)
            if resting is not None and resting.is_open:
                qb.cancel(order.order_id, self.clock.time_ns())
            order.status = OrderStatus.CANCELED
            self._settle_maker_fee(order)
        return order.ack(self.venue)

    # -- queue mirror ------------------------------------------------------------------------
    @staticmethod
    def _axis(ladder: int, price: int, kalshi: bool) -> int:
        """Price on the mirror's BUY axis: better resting price = higher axis value."""
        return price if kalshi or ladder == 0 else PRICE_SCALE - price

    def _displayed(self, market: str, ladder: int, price: int) -> int:
        book = self.book(market)
        if isinstance(book, KalshiBook):
            return (book.yes_bids if ladder == 0 else book.no_bids).size_at(price)
        return (book.bids if ladder == 0 else book.asks).size_at(price)

    def _rest(self, order: _SimOrder, size: int) -> None:
        market = order.request.market
        key = (market, order.ladder)
        qb = self._queues.get(key)
        if qb is None:
            qb = self._queues[key] = MatchingBook(f"{market}/{order.ladder}", tick=1, lot=1,
                                                  self_trade="allow")
        kalshi = self.venue == "kalshi"
        axis = self._axis(order.ladder, order.ladder_price, kalshi)
        now = self.clock.time_ns()
        if not qb.size_at(OrderSide.BUY, axis):
            displayed = self._displayed(market, order.ladder, order.ladder_price)
            if displayed:
                self._mirror_n += 1
                qb.submit(Order(f"m{self._mirror_n}", _MIRROR, OrderSide.BUY, axis, displayed), now)
        qb.submit(Order(order.order_id, _OURS, OrderSide.BUY, axis, size, meta=order.order_id), now)
        self.watched.add(market)

    def queue_ahead(self, order_id: str) -> int:
        """Displayed size still ahead of a resting order (what the queue model believes)."""
        order = self.orders[order_id]
        qb = self._queues[(order.request.market, order.ladder)]
        axis = self._axis(order.ladder, order.ladder_price, self.venue == "kalshi")
        ahead = 0
        for o in qb.queue(OrderSide.BUY, axis):
            if o.order_id == order_id:
                return ahead
            ahead += o.remaining
        return ahead

    def on_level(self, market: str, ladder: int, price: int, old: int, new: int) -> None:
        """The recording changed a level of a watched market from ``old`` to ``new``."""
        key = (market, ladder, price)
        if self._taken.pop(key, None) is not None:
            self._taken_keys[market].discard(key)
        qb = self._queues.get((market, ladder))
        if qb is not None:
            axis = self._axis(ladder, price, self.venue == "kalshi")
            if qb.size_at(OrderSide.BUY, axis):
                self._mirror_change(qb, market, ladder, price, axis, new - old)
        self._check_through(market)
        self._maybe_unwatch(market)

    def _maybe_unwatch(self, market: str) -> None:
        """Stop following a market once nothing of ours depends on its changes."""
        if self._taken_keys.get(market):
            return
        for ladder in (0, 1):
            qb = self._queues.get((market, ladder))
            if qb is not None and len(qb):
                return
        self.watched.discard(market)

    def _mirror_change(self, qb: MatchingBook, market: str, ladder: int, price: int, axis: int,
                       delta: int) -> None:
        now = self.clock.time_ns()
        if delta > 0:
            self._mirror_n += 1
            qb.submit(Order(f"m{self._mirror_n}", _MIRROR, OrderSide.BUY, axis, delta), now)
            return
        traded = self._traded.pop((market, ladder, price), 0)
        cancel = -delta - min(traded, -delta)
        if cancel <= 0:
            return
        queue = qb.queue(OrderSide.BUY, axis)
        first_ours = next((i for i, o in enumerate(queue) if o.account == _OURS), len(queue))
        ahead, behind = queue[:first_ours], [o for o in queue[first_ours:] if o.account == _MIRROR]
        order = (ahead + behind[::-1]) if self.queue_model is QueueModel.FIFO else (
            behind[::-1] + ahead)
        for o in order:
            if cancel <= 0:
                break
            cut = min(cancel, o.remaining)
            if cut == o.remaining:
                qb.cancel(o.order_id, now)
            else:
                qb.amend_size_down(o.order_id, o.remaining - cut, now)
            cancel -= cut

    def on_trade(self, market: str, ladder: int, price: int, size: int) -> None:
        """A recorded trade of ``size`` against resting ``ladder`` at ``price``."""
        key = (market, ladder, price)
        self._traded[key] = self._traded.get(key, 0) + size
        qb = self._queues.get((market, ladder))
        if qb is None or not len(qb):
            return
        axis = self._axis(ladder, price, self.venue == "kalshi")
        now = self.clock.time_ns()
        self._mirror_n += 1
        result = qb.submit(
            Order(f"t{self._mirror_n}", _TAPE, OrderSide.SELL, axis, size, MTif.IOC), now
        )
        for f in result.fills:
            if f.maker_account == _OURS:
                self._maker_fill(self.orders[str(f.maker_meta)], f.size, now)
        self._drop_idle(qb, market)

    def _check_through(self, market: str) -> None:
        """Resting orders the recorded book now trades through fill at their own price."""
        for (m, _ladder), qb in list(self._queues.items()):
            if m != market or not len(qb):
                continue
            for o in qb.open_orders(_OURS):
                order = self.orders[str(o.meta)]
                req = order.request
                buy = req.action is Action.BUY
                best = None
                for _, _, op, _ in self._levels(req.market, req.outcome, req.action):
                    best = op
                    break
                if best is not None and (best <= req.price if buy else best >= req.price):
                    left = o.remaining
                    qb.cancel(o.order_id, self.clock.time_ns())
                    self._maker_fill(order, left, self.clock.time_ns())
            self._drop_idle(qb, m)

    def _drop_idle(self, qb: MatchingBook, market: str) -> None:
        if not qb.open_orders(_OURS):
            for o in qb.open_orders(_MIRROR):
                qb.cancel(o.order_id, self.clock.time_ns())
            qb.prune()

    def _maker_fill(self, order: _SimOrder, size: int, now: int) -> None:
        if size <= 0:
            return
        self._fill(order, order.request.price, size, 0, False, now)
        order.maker_terms.append((order.request.price, size))
        taker_model = self.taker_fees.get(order.request.market)
        if self.maker_rebate_share and isinstance(taker_model, PolymarketFeeModel):
            rebate = taker_model.maker_rebate(order.request.price, size, self.maker_rebate_share)
            self.rebates = Money(self.rebates + rebate)
            self.cash = Money(self.cash + rebate)
        if order.filled >= order.request.size:
            order.status = OrderStatus.FILLED
            self._settle_maker_fee(order)

    def _settle_maker_fee(self, order: _SimOrder) -> None:
        if order.maker_terms:
            fee = int(self.maker_fees.get(order.request.market, NoFees()).order_fee(order.maker_terms))
            order.maker_terms = []
            order.fees += fee
            self.cash = Money(self.cash - fee)

    # -- accounting --------------------------------------------------------------------------
    def _fill(self, order: _SimOrder, price: int, size: int, fee: int, taker: bool, now: int) -> None:
        req = order.request
        order.filled += size
        order.cost += price * size
        order.fees += fee
        h = self.holdings.setdefault((req.market, req.outcome), [0, 0, 0])
        if req.action is Action.BUY:
            h[0] += size
            h[1] += price * size
            self.cash = Money(self.cash - price * size - fee)
        else:
            if h[0]:
                h[1] -= h[1] * min(size, h[0]) // h[0]
            h[0] -= size
            self.cash = Money(self.cash + price * size - fee)
        h[2] += fee
        self.fill_log.append(FillReport(
            self.venue, f"{order.order_id}-{len(self.fill_log) + 1}", order.order_id,
            req.client_order_id, req.market, req.outcome, req.action, Price(price), Size(size),
            Money(fee), taker, now // 1_000_000,
        ))

    def holding(self, market: str, outcome: Outcome) -> int:
        h = self.holdings.get((market, outcome))
        return h[0] if h else 0

    def filled_size(self) -> int:
        return sum(f.size for f in self.fill_log)


def fee_maps(pairs: Sequence[object]) -> tuple[dict[str, FeeModel], dict[str, FeeModel]]:
    """Taker fee model per market for (kalshi, polymarket), from pairs."""
    from arbiter.core.pairs import Pair

    kalshi: dict[str, FeeModel] = {}
    poly: dict[str, FeeModel] = {}
    for p in pairs:
        assert isinstance(p, Pair)
        kalshi[p.kalshi_ticker] = p.kalshi_fees.taker
        if p.polymarket_fee is None:
            # unknown is never free: no model, so the simulated venue refuses its orders (the
            # detector builds no route for such a pair anyway; backtest inputs refuse it up front)
            continue
        pm: FeeModel = p.polymarket_fee
        poly[p.polymarket_yes_token] = pm
        poly[p.polymarket_no_token] = pm
    return kalshi, poly
