"""The local Kalshi's exchange state: accounts, markets, orders, fills, settlement.

Kept free of HTTP and asyncio so the server module stays a thin shell and the accounting can be
tested directly. Matching is core's :class:`~arbiter.core.matching.MatchingBook` on the YES axis;
this module translates Kalshi's two order vocabularies onto it (venues.md §1.6.3):

    buy YES @p = BUY p    sell YES @p = SELL p    buy NO @q = SELL 1-q    sell NO @q = BUY 1-q

Accounting (simplified, documented in docs/kalshi.md): a position is one signed net count per
market (YES positive, NO negative, netting as the venue's signed field implies). Buying YES costs
p per contract, buying NO costs 1-p; a fill against an opposite holding closes it and credits the
sale price. Resting orders reserve the cost of the part that would open a position, so the
reported balance is cash minus reservations, like the venue's "available balance". Fees follow
each market's *series* (``GET /series/{ticker}``: ``fee_type`` + ``fee_multiplier``): takers pay
the quadratic schedule, makers only where the fee type charges them, each fill rounded and
rebated per order exactly as docs ``/getting_started/fee_rounding`` describe
(:class:`~arbiter.core.fees.KalshiFillFees`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import InitVar, dataclass, field
from fractions import Fraction
from typing import Any, Final

from arbiter.core.fees import (
    KALSHI_DEFAULT_FEES,
    KalshiFeeError,
    KalshiFillFees,
    KalshiSeriesFees,
)
from arbiter.core.matching import (
    Fill,
    LevelChange,
    MatchingBook,
    MatchingError,
    Order,
    OrderSide,
    TimeInForce,
)
from arbiter.core.matching import OrderStatus as EngineStatus
from arbiter.core.price_grid import STRUCTURES, PriceGrid
from arbiter.core.units import (
    CENT,
    MONEY_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    Money,
    Size,
    format_money,
    format_price,
    format_size,
)

ONE_DOLLAR_MONEY: Final = MONEY_SCALE

TIF: Final = {
    "good_till_canceled": TimeInForce.GTC,
    "immediate_or_cancel": TimeInForce.IOC,
    "fill_or_kill": TimeInForce.FOK,
}
TIF_NAME: Final = {v: k for k, v in TIF.items()}


class SimError(Exception):
    """An order/API error answered with the venue's nested error shape."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None,
                 *, flat: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        #: the top-level shape (no ``error`` wrapper) of a body the venue could not parse
        self.flat = flat

    @classmethod
    def bad_request(cls, details: str) -> SimError:
        """A body the venue cannot parse (malformed JSON, a field of the wrong type): 400 with
        ``code``/``message``/``details`` at the top level, not under ``error``
        (docs.kalshi.com ``/getting_started/order_errors``)."""
        return cls(400, "bad_request", "bad request", details, flat=True)

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return err if self.flat else {"error": err}


@dataclass
class Position:
    net: int = 0  # size units, + YES / - NO
    cost: int = 0  # Money paid for the open position (market exposure)
    realized: int = 0
    fees: int = 0
    traded: int = 0  # Money notional traded
    updated_s: int = 0


@dataclass
class Account:
    """One member; collateral is held per exchange shard (docs
    ``/getting_started/exchange_sharding``: "Programmatic traders must preallocate collateral on
    a given exchange shard before order placement"). Starting cash sits on shard 0."""

    key_id: str
    public_key: Any  # RSA or Ed25519 public key (None for internal makers)
    initial_cash: InitVar[int]
    unlimited: bool = False
    shard_cash: dict[int, int] = field(default_factory=dict)
    shard_reserved: dict[int, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    #: client_order_id -> latest order id using it (the duplicate check needs only that one)
    cids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self, initial_cash: int) -> None:
        self.shard_cash[0] = initial_cash

    @property
    def cash(self) -> int:
        return sum(self.shard_cash.values())

    @property
    def reserved(self) -> int:
        return sum(self.shard_reserved.values())

    @property
    def available(self) -> int:
        return self.cash - self.reserved

    def available_on(self, shard: int) -> int:
        return self.shard_cash.get(shard, 0) - self.shard_reserved.get(shard, 0)

    def add_cash(self, shard: int, amount: int) -> None:
        self.shard_cash[shard] = self.shard_cash.get(shard, 0) + amount

    def add_reserved(self, shard: int, amount: int) -> None:
        self.shard_reserved[shard] = self.shard_reserved.get(shard, 0) + amount


@dataclass
class SimOrder:
    """Venue-side record of one order; ``engine`` is the core order it rests as."""

    order_id: str
    client_order_id: str
    account: str
    ticker: str
    side: str  # legacy view: yes|no
    action: str  # buy|sell
    price: int  # price of ``side`` in price units
    engine: Order
    tif: TimeInForce
    created_s: float
    updated_s: float
    reserve_per_unit: int = 0  # Money per size unit reserved for the opening part
    reserved: int = 0
    #: the venue's per-order rounding accumulator (taker and maker fills alike)
    fee_acc: KalshiFillFees = field(default_factory=KalshiFillFees)
    taker_fees: int = 0
    maker_fees: int = 0
    taker_cost: int = 0
    maker_cost: int = 0
    expiration_ts: int | None = None
    shard: int = 0

    @property
    def yes_price(self) -> int:
        return self.price if self.side == "yes" else PRICE_SCALE - self.price

    @property
    def outcome_side(self) -> str:
        """yes for a YES-book bid (buy YES / sell NO), no for an ask (docs order_direction)."""
        return "yes" if self.engine.side is OrderSide.BUY else "no"

    @property
    def book_side(self) -> str:
        return "bid" if self.engine.side is OrderSide.BUY else "ask"

    @property
    def status(self) -> str:
        st = self.engine.status
        if st is EngineStatus.RESTING:
            return "resting"
        if st is EngineStatus.FILLED:
            return "executed"
        return "canceled"


@dataclass
class SimSeries:
    """A series as ``GET /series/{ticker}`` shows it (kalshi-python-sync 3.34.0 ``Series``)."""

    ticker: str
    title: str
    fee_type: str = "quadratic"
    fee_multiplier: Fraction = Fraction(1)
    category: str = "Simulated"
    frequency: str = "custom"
    updated_s: float = field(default_factory=time.time)

    def fees(self) -> KalshiSeriesFees:
        """The schedule its markets charge; a type we cannot price refuses every order."""
        try:
            return KalshiSeriesFees.of(self.fee_type, self.fee_multiplier)
        except KalshiFeeError as exc:
            raise SimError(400, "unsupported_fee_type", str(exc)) from None

    def json(self) -> dict[str, Any]:
        mult = self.fee_multiplier
        return {
            "ticker": self.ticker,
            "frequency": self.frequency,
            "title": self.title,
            "category": self.category,
            "categories": [self.category],
            "tags": [],
            "settlement_sources": [{"name": "arbiter local Kalshi", "url": ""}],
            "contract_url": "",
            "contract_terms_url": "",
            "fee_type": self.fee_type,
            # a JSON number like the venue's (SDK: StrictFloat | StrictInt)
            "fee_multiplier": int(mult) if mult.denominator == 1 else float(mult),
            "additional_prohibitions": [],
            "last_updated_ts": _rfc3339(self.updated_s),
        }


@dataclass
class SimMarket:
    ticker: str
    event_ticker: str
    title: str
    book: MatchingBook
    status: str = "active"
    result: str = ""
    last_price: int = 0
    volume: int = 0
    open_interest: int = 0
    market_id: str = ""
    created_s: float = field(default_factory=time.time)
    series_ticker: str = ""
    #: the exchange shard (matching engine) the market is pinned to
    exchange_index: int = 0
    #: the market's price grid (``price_level_structure`` / ``price_ranges``)
    grid: PriceGrid = field(default_factory=lambda: STRUCTURES["linear_cent"])

    @property
    def tick(self) -> int:
        return self.book.tick


#: (ticker, outcome yes|no, price of that outcome's bid, signed change in size units)
BookDelta = tuple[str, str, int, int]


def _cents(price: int) -> int:
    return price // 100


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Exchange:
    """All venue state; every mutation returns the book deltas the feed must publish."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.accounts: dict[str, Account] = {}
        self.series: dict[str, SimSeries] = {}
        #: event ticker -> (fee_type_override, fee_multiplier_override) (SDK ``EventData``)
        self.event_fee_overrides: dict[str, tuple[str, Fraction]] = {}
        self.markets: dict[str, SimMarket] = {}
        self.orders: dict[str, SimOrder] = {}
        self.trading_active = True
        self._n_orders = 0
        self._n_fills = 0
        #: called with each venue fill dict (account, fill) for the private ``fill`` channel
        self.on_fill: Callable[[str, dict[str, Any]], None] | None = None
        #: called with public trade dicts for the ``trade`` channel
        self.on_trade: Callable[[dict[str, Any]], None] | None = None

    # -- setup ------------------------------------------------------------------------------
    def add_account(
        self, key_id: str, public_key: Any, cash: int, unlimited: bool = False
    ) -> Account:
        acct = Account(key_id, public_key, cash, unlimited)
        self.accounts[key_id] = acct
        return acct

    def add_series(
        self, ticker: str, fee_type: str = "quadratic", fee_multiplier: str | Fraction = "1",
        title: str | None = None,
    ) -> SimSeries:
        """Register (or replace) a series; its fee fields are served as given, even unknown ones."""
        series = SimSeries(ticker, title or ticker, fee_type, Fraction(fee_multiplier))
        self.series[ticker] = series
        return series

    def add_market(
        self, ticker: str, title: str, tick: int = 100, series: str | None = None,
        structure: str | None = None, exchange_index: int = 0,
    ) -> SimMarket:
        """A market of ``series`` (default: the ticker's first segment, Kalshi's naming:
        series ``KXBTC``, event ``KXBTC-25DEC31``, market ``KXBTC-25DEC31-B100000``) on the
        price level ``structure`` (default: the uniform structure of ``tick``)."""
        if structure is not None:
            grid = PriceGrid.structure(structure)
        else:
            grid = STRUCTURES["linear_cent" if tick == 100 else "deci_cent"] if tick in (
                100, 10) else PriceGrid.uniform(tick)
        event = ticker.rsplit("-", 1)[0] if "-" in ticker else ticker
        series_ticker = series or ticker.split("-", 1)[0]
        if series_ticker not in self.series:
            self.add_series(series_ticker, KALSHI_DEFAULT_FEES.fee_type.value)
        market = SimMarket(
            ticker,
            event,
            title,
            MatchingBook(ticker, tick=grid.tick, lot=SIZE_SCALE // 100),
            market_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-sim:{ticker}")),
            series_ticker=series_ticker,
            exchange_index=exchange_index,
            grid=grid,
        )
        self.markets[ticker] = market
        return market

    def fees_of(self, market: SimMarket) -> KalshiSeriesFees:
        """The event's override where it has one, else its series' schedule (SDK ``EventData``:
        "when null ... falls back to the parent series' fee structure")."""
        override = self.event_fee_overrides.get(market.event_ticker)
        if override is not None:
            try:
                return KalshiSeriesFees.of(*override)
            except KalshiFeeError as exc:
                raise SimError(400, "unsupported_fee_type", str(exc)) from None
        return self.series[market.series_ticker].fees()

    def transfer(self, key_id: str, source: int, destination: int, amount: int) -> None:
        """Move available cash between shards at once (the venue's
        ``POST /portfolio/intra_exchange_instance_transfer``)."""
        acct = self.accounts[key_id]
        if amount <= 0 or source == destination:
            raise SimError(400, "invalid_parameters", "amount must be positive, shards distinct")
        if amount > acct.available_on(source):
            raise SimError(400, "insufficient_balance",
                           f"shard {source} has ${format_money(acct.available_on(source), 2)}")
        acct.add_cash(source, -amount)
        acct.add_cash(destination, amount)

    def _next_order_id(self) -> str:
        self._n_orders += 1
        return str(uuid.UUID(int=((self.seed & 0xFFFFFFFF) << 64) | self._n_orders, version=4))

    # -- book views -------------------------------------------------------------------------
    def bids(self, ticker: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(YES bids, NO bids), price ascending, as Kalshi publishes them."""
        book = self.markets[ticker].book
        yes = sorted(book.depth(OrderSide.BUY))
        no = sorted((PRICE_SCALE - p, s) for p, s in book.depth(OrderSide.SELL))
        return yes, no

    @staticmethod
    def _deltas(ticker: str, changes: Iterable[LevelChange], before: _LevelView
                ) -> list[BookDelta]:
        out: list[BookDelta] = []
        for ch in changes:
            buy = ch.side is OrderSide.BUY
            key = ("yes", ch.price) if buy else ("no", PRICE_SCALE - ch.price)
            old = before.get(key, 0)
            if ch.size != old:
                out.append((ticker, key[0], key[1], ch.size - old))
        return out

    # -- orders -----------------------------------------------------------------------------
    def place(
        self,
        key_id: str,
        ticker: str,
        side: str,
        action: str,
        price: int,
        count: int,
        client_order_id: str,
        tif_name: str = "good_till_canceled",
        post_only: bool = False,
        expiration_ts: int | None = None,
        now_ns: int | None = None,
    ) -> tuple[SimOrder, list[BookDelta]]:
        """Validate and submit one order (legacy vocabulary: side yes/no + action + side price)."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        acct = self.accounts[key_id]
        market = self.markets.get(ticker)
        if market is None:
            raise SimError(404, "market_not_found", f"market {ticker} not found")
        if market.status != "active" or not self.trading_active:
            raise SimError(400, "market_closed", f"market {ticker} is not open for trading")
        if side not in ("yes", "no"):
            raise SimError(400, "invalid_parameters", f"side must be yes or no, got {side!r}")
        if action not in ("buy", "sell"):
            raise SimError(400, "invalid_parameters", f"action must be buy or sell, got {action!r}")
        tif = TIF.get(tif_name)
        if tif is None:
            raise SimError(400, "invalid_parameters", f"unknown time_in_force {tif_name!r}")
        if tif is TimeInForce.IOC and expiration_ts is not None:
            raise SimError(400, "invalid_parameters", "expiration_ts is not allowed with IOC")
        if not market.grid.contains(price if side == "yes" else PRICE_SCALE - price):
            shown = format_price(price) if 0 < price < PRICE_SCALE else str(price)
            raise SimError(
                400, "invalid_price",
                f"{ticker}: price {shown} is not on the market's price grid "
                f"({market.grid.describe()})",
            )
        if count <= 0 or count % (SIZE_SCALE // 100):
            raise SimError(400, "invalid_count", "count must be positive with at most 2 decimals")
        if count % SIZE_SCALE:
            raise SimError(400, "invalid_count", "fractional counts are not enabled on this market")
        if not client_order_id or len(client_order_id) > 64:
            raise SimError(400, "invalid_parameters", "client_order_id must be 1..64 characters")
        previous = self.orders.get(acct.cids.get(client_order_id, ""))
        if previous is not None and previous.engine.is_open:
            raise SimError(
                409, "order_already_exists", f"an open order uses client_order_id "
                f"{client_order_id}"
            )
        is_yes_buy = (side == "yes") == (action == "buy")
        engine_side = OrderSide.BUY if is_yes_buy else OrderSide.SELL
        yes_price = price if side == "yes" else PRICE_SCALE - price
        # Reservation: the part that opens a position costs its own side's price per contract.
        pos = acct.positions.get(ticker)
        net = pos.net if pos else 0
        closable = max(0, -net) if engine_side is OrderSide.BUY else max(0, net)
        opening = max(0, count - closable)
        unit_cost = yes_price if engine_side is OrderSide.BUY else PRICE_SCALE - yes_price
        # worst-case fee (taker or maker, whichever is higher) on the whole order
        fees = self.fees_of(market)
        fee_bound = max(
            int(fees.taker.order_fee([(unit_cost, count)])),
            int(fees.maker.order_fee([(unit_cost, count)])),
        )
        need = unit_cost * opening + fee_bound
        shard = market.exchange_index
        free = acct.available_on(shard)
        if not acct.unlimited and need > free:
            raise SimError(
                400, "insufficient_balance",
                f"order needs ${format_money(need, 2) if need % CENT == 0 else format_money(need)}"
                f", available ${format_money(free - free % CENT, 2)} on exchange index {shard}",
            )
        order_id = self._next_order_id()
        engine = Order(
            order_id,
            key_id,
            engine_side,
            yes_price,
            count,
            tif,
            post_only=post_only,
            expires_at_ns=expiration_ts * 1_000_000_000 if expiration_ts else None,
        )
        now_s = now_ns / 1e9
        sim = SimOrder(
            order_id, client_order_id, key_id, ticker, side, action, price, engine, tif,
            now_s, now_s, expiration_ts=expiration_ts, shard=shard,
        )
        engine.meta = sim
        before = self._levels_before(market)
        try:
            result = market.book.submit(engine, now_ns)
        except MatchingError as exc:
            raise SimError(400, "invalid_order", str(exc)) from None
        if result.reject_reason is not None:
            code = {"post_only_would_cross": "post_only_rejected",
                    "fok_not_filled": "fill_or_kill_insufficient_resting_volume"}.get(
                result.reject_reason, result.reject_reason)
            raise SimError(400, code, f"order rejected: {result.reject_reason}")
        self.orders[order_id] = sim
        if not acct.unlimited:  # internal makers churn: their history is never listed
            acct.order_ids.append(order_id)
            acct.cids[client_order_id] = order_id
        if opening and engine.is_open and not acct.unlimited:
            sim.reserve_per_unit = unit_cost
            # reserve only for the opening part still resting (reduced as fills come in)
            sim.reserved = unit_cost * min(opening, engine.remaining)
            acct.add_reserved(shard, sim.reserved)
        for fill in result.fills:
            self._settle_fill(fill, market, now_ns)
        for canceled in [*result.self_trade_canceled, *result.expired]:
            self._release(canceled.meta)
        sim.updated_s = now_s
        return sim, self._deltas(ticker, result.level_changes, before)

    def _levels_before(self, market: SimMarket) -> _LevelView:
        return _LevelView(market.book)

    def cancel(self, key_id: str, order_id: str, now_ns: int | None = None
               ) -> tuple[SimOrder, int, list[BookDelta]]:
        now_ns = time.time_ns() if now_ns is None else now_ns
        sim = self.orders.get(order_id)
        if sim is None or sim.account != key_id:
            raise SimError(404, "not_found", f"order {order_id} not found")
        if not sim.engine.is_open:
            raise SimError(404, "not_found", f"order {order_id} is not open")
        market = self.markets[sim.ticker]
        reduced = sim.engine.remaining
        before = self._levels_before(market)
        result = market.book.cancel(order_id, now_ns)
        self._release(sim)
        sim.updated_s = now_ns / 1e9
        return sim, reduced, self._deltas(sim.ticker, result.level_changes, before)

    def _release(self, sim: SimOrder | None) -> None:
        if sim is None or not sim.reserved:
            return
        self.accounts[sim.account].add_reserved(sim.shard, -sim.reserved)
        sim.reserved = 0

    def _settle_fill(self, fill: Fill, market: SimMarket, now_ns: int) -> None:
        self._n_fills += 1
        price, size = fill.price, fill.size
        market.last_price = price
        market.volume += size
        taker: SimOrder = fill.taker_meta
        maker: SimOrder = fill.maker_meta
        trade_id = str(uuid.UUID(int=((self.seed & 0xFFFFFFFF) << 64) | self._n_fills, version=4))
        for sim, is_taker in ((maker, False), (taker, True)):
            if sim is None:
                continue
            acct = self.accounts[sim.account]
            buys_yes = sim.engine.side is OrderSide.BUY
            fees = self.fees_of(market)
            model = fees.taker if is_taker else fees.maker
            revenue = _revenue(acct.positions.get(market.ticker), buys_yes, price, size)
            # the fee is symmetric in P and 1 - P: the YES price prices either side
            trade, rounding, rebate = sim.fee_acc.fill(model, price, size, revenue)
            fee = trade + rounding - rebate
            if is_taker:
                sim.taker_fees += fee
            else:
                sim.maker_fees += fee
            self._apply_position(acct, market, buys_yes, price, size, fee, now_ns)
            if is_taker:
                sim.taker_cost += price * size if sim.side == "yes" else (PRICE_SCALE - price) * size
            else:
                sim.maker_cost += price * size if sim.side == "yes" else (PRICE_SCALE - price) * size
            if sim.reserved:
                release = min(sim.reserved, sim.reserve_per_unit * size)
                if not sim.engine.is_open:
                    release = sim.reserved
                sim.reserved -= release
                acct.add_reserved(sim.shard, -release)
            sim.updated_s = now_ns / 1e9
            if acct.unlimited:
                continue
            side_price = price if sim.side == "yes" else PRICE_SCALE - price
            record = {
                "fill_id": f"{trade_id}-{'t' if is_taker else 'm'}",
                "exchange_index": market.exchange_index,
                "trade_id": trade_id,
                "order_id": sim.order_id,
                "client_order_id": sim.client_order_id,
                "ticker": market.ticker,
                "market_ticker": market.ticker,
                "outcome_side": sim.outcome_side,
                "book_side": sim.book_side,
                "side": sim.side,
                "action": sim.action,
                "count": size // SIZE_SCALE,
                "count_fp": format_size(size, 2),
                "price": _cents(side_price),
                "yes_price": _cents(price),
                "no_price": _cents(PRICE_SCALE - price),
                "yes_price_fixed": format_price(price),
                "no_price_fixed": format_price(PRICE_SCALE - price),
                "yes_price_dollars": format_price(price),
                "no_price_dollars": format_price(PRICE_SCALE - price),
                "fee_cost": format_money(fee, 4) if fee % (MONEY_SCALE // 10_000) == 0
                else format_money(fee),
                "is_taker": is_taker,
                "subaccount_number": 0,
                "created_time": _rfc3339(now_ns / 1e9),
                "ts": now_ns // 1_000_000_000,
                "ts_ms": now_ns // 1_000_000,
                "post_position_fp": _signed_fp(acct.positions[market.ticker].net),
            }
            acct.fills.append(record)
            if self.on_fill is not None:
                self.on_fill(acct.key_id, record)
        if self.on_trade is not None:
            self.on_trade({
                "trade_id": trade_id,
                "market_ticker": market.ticker,
                "yes_price_dollars": format_price(price),
                "no_price_dollars": format_price(PRICE_SCALE - price),
                "yes_price": _cents(price),
                "no_price": _cents(PRICE_SCALE - price),
                "count_fp": format_size(size, 2),
                "count": size // SIZE_SCALE,
                "taker_side": taker.side if taker is not None else "yes",
                "ts": now_ns // 1_000_000_000,
                "ts_ms": now_ns // 1_000_000,
            })

    @staticmethod
    def _apply_position(
        acct: Account, market: SimMarket, buys_yes: bool, yes_price: int, size: int, fee: int,
        now_ns: int,
    ) -> None:
        shard = market.exchange_index
        pos = acct.positions.setdefault(market.ticker, Position())
        pos.fees += fee
        pos.traded += yes_price * size
        pos.updated_s = now_ns // 1_000_000_000
        acct.add_cash(shard, -fee)
        direction = 1 if buys_yes else -1
        # closing part: opposite holding sold at its own side's price
        holding = -pos.net * direction  # >0 when we hold the opposite side
        close = min(size, max(0, holding))
        if close:
            proceeds = (PRICE_SCALE - yes_price if buys_yes else yes_price) * close
            basis = pos.cost * close // abs(pos.net)
            pos.cost -= basis
            pos.realized += proceeds - basis
            acct.add_cash(shard, proceeds)
            pos.net += direction * close
        opening = size - close
        if opening:
            cost = (yes_price if buys_yes else PRICE_SCALE - yes_price) * opening
            acct.add_cash(shard, -cost)
            pos.cost += cost
            pos.net += direction * opening
        pos.realized -= fee

    def expire(self, now_ns: int | None = None) -> list[BookDelta]:
        """Expire due good-till-time orders in every market (the server calls this each second)."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        deltas: list[BookDelta] = []
        for market in self.markets.values():
            before = self._levels_before(market)
            changes = []
            for result in market.book.expire(now_ns):
                self._release(result.order.meta)
                result.order.meta.updated_s = now_ns / 1e9
                changes.extend(result.level_changes)
            if changes:
                deltas.extend(self._deltas(market.ticker, _last_per_level(changes), before))
        return deltas

    def housekeeping(self) -> int:
        """Forget finished orders of internal makers (a busy scenario churns thousands a second).

        Client orders are kept for the whole session: the venue lists them and the idempotency
        tests look them up. Returns how many orders were dropped.
        """
        makers = {k for k, a in self.accounts.items() if a.unlimited}
        gone = [oid for oid, o in self.orders.items()
                if o.account in makers and not o.engine.is_open]
        for oid in gone:
            del self.orders[oid]
        for market in self.markets.values():
            market.book.prune()
        return len(gone)

    # -- lifecycle (docs /getting_started/market_lifecycle) ------------------------------------
    def _cancel_all(self, market: SimMarket, now_ns: int) -> list[BookDelta]:
        deltas: list[BookDelta] = []
        for order in market.book.open_orders():
            _, _, d = self.cancel(order.account, order.order_id, now_ns)
            deltas.extend(d)
        return deltas

    def _lifecycle_market(self, ticker: str) -> SimMarket:
        market = self.markets.get(ticker)
        if market is None:
            raise SimError(404, "market_not_found", f"market {ticker} not found")
        return market

    def deactivate(self, ticker: str) -> list[dict[str, Any]]:
        """active -> inactive: trading paused (event ``deactivated``); orders stay resting."""
        market = self._lifecycle_market(ticker)
        if market.status != "active":
            raise SimError(400, "invalid_parameters", f"market {ticker} is {market.status}")
        market.status = "inactive"
        return [{"market_ticker": ticker, "event_type": "deactivated", "is_deactivated": True}]

    def activate(self, ticker: str, now_ns: int | None = None
                 ) -> tuple[list[dict[str, Any]], list[BookDelta]]:
        """inactive -> active (event ``activated``): "all resting orders are cancelled on this
        reactivation" (docs)."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        market = self._lifecycle_market(ticker)
        if market.status != "inactive":
            raise SimError(400, "invalid_parameters", f"market {ticker} is {market.status}")
        deltas = self._cancel_all(market, now_ns)
        market.status = "active"
        return [{"market_ticker": ticker, "event_type": "activated", "is_deactivated": False}], deltas

    def close(self, ticker: str, now_ns: int | None = None
              ) -> tuple[list[dict[str, Any]], list[BookDelta]]:
        """Closed ahead of schedule (event ``close_date_updated`` with a past ``close_ts``): no
        new orders, resting ones cancelled."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        market = self._lifecycle_market(ticker)
        deltas = self._cancel_all(market, now_ns)
        market.status = "closed"
        return [{"market_ticker": ticker, "event_type": "close_date_updated",
                 "close_ts": now_ns // 1_000_000_000}], deltas

    # -- settlement -------------------------------------------------------------------------
    def settle(self, ticker: str, result: str, now_ns: int | None = None) -> list[BookDelta]:
        """Close the market, cancel its orders and pay $1 per winning contract (the market ends
        ``finalized``, the status the live venue and kalshi-python-sync 3.34.0 use)."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        if result not in ("yes", "no"):
            raise SimError(400, "invalid_parameters", "result must be yes or no")
        market = self._lifecycle_market(ticker)
        deltas = self._cancel_all(market, now_ns)
        for acct in self.accounts.values():
            pos = acct.positions.get(ticker)
            if pos is None or not pos.net:
                continue
            wins = (pos.net > 0) == (result == "yes")
            payout = abs(pos.net) * ONE_DOLLAR_MONEY // SIZE_SCALE if wins else 0
            acct.add_cash(market.exchange_index, payout)
            pos.realized += payout - pos.cost
            pos.cost = 0
            pos.net = 0
        market.status = "finalized"
        market.result = result
        return deltas

    @staticmethod
    def settle_events(ticker: str, result: str, now_ns: int | None = None) -> list[dict[str, Any]]:
        """The ``market_lifecycle_v2`` messages of a settlement: ``determined`` then ``settled``."""
        now_s = (time.time_ns() if now_ns is None else now_ns) // 1_000_000_000
        return [
            {"market_ticker": ticker, "event_type": "determined", "result": result,
             "determination_ts": now_s},
            {"market_ticker": ticker, "event_type": "settled", "result": result,
             "settled_ts": now_s},
        ]

    # -- wire views -------------------------------------------------------------------------
    def order_json(self, sim: SimOrder, legacy: bool = False) -> dict[str, Any]:
        """An Order as the venue shows it: ``outcome_side``/``book_side`` and fixed-point fields
        (SDK 3.34.0 ``models/order.py``); ``legacy`` adds the SDK-era integer fields and the
        deprecated ``side``/``action`` (SDK 3.2.0 requires them)."""
        e = sim.engine
        yes_p = sim.yes_price
        out = {
            "order_id": sim.order_id,
            "user_id": sim.account,
            "client_order_id": sim.client_order_id,
            "ticker": sim.ticker,
            "outcome_side": sim.outcome_side,
            "book_side": sim.book_side,
            "side": sim.side,
            "action": sim.action,
            "type": "limit",
            "status": sim.status,
            "yes_price": _cents(yes_p),
            "no_price": _cents(PRICE_SCALE - yes_p),
            "yes_price_dollars": format_price(yes_p),
            "no_price_dollars": format_price(PRICE_SCALE - yes_p),
            "fill_count": e.filled // SIZE_SCALE,
            "remaining_count": e.remaining // SIZE_SCALE,
            "initial_count": e.size // SIZE_SCALE,
            "fill_count_fp": format_size(e.filled, 2),
            "remaining_count_fp": format_size(e.remaining, 2),
            "initial_count_fp": format_size(e.size, 2),
            "taker_fees": _money_cents(sim.taker_fees),
            "maker_fees": _money_cents(sim.maker_fees),
            "taker_fill_cost": _money_cents(sim.taker_cost),
            "maker_fill_cost": _money_cents(sim.maker_cost),
            "taker_fill_cost_dollars": _money4(sim.taker_cost),
            "maker_fill_cost_dollars": _money4(sim.maker_cost),
            "taker_fees_dollars": _money4(sim.taker_fees),
            "maker_fees_dollars": _money4(sim.maker_fees),
            "queue_position": 0,
            "created_time": _rfc3339(sim.created_s),
            "last_update_time": _rfc3339(sim.updated_s),
            "expiration_time": _rfc3339(sim.expiration_ts) if sim.expiration_ts else None,
            "self_trade_prevention_type": "taker_at_cross",
            "subaccount_number": 0,
            "exchange_index": self.markets[sim.ticker].exchange_index,
        }
        return out if legacy else _live(out, LEGACY_ORDER_FIELDS)

    def fill_json(self, record: dict[str, Any], legacy: bool = False) -> dict[str, Any]:
        return record if legacy else _live(record, LEGACY_FILL_FIELDS)

    def market_json(self, m: SimMarket, legacy: bool = False) -> dict[str, Any]:
        """A Market with every field SDK 3.34.0 ``models/market.py`` requires; an empty side is
        quoted with the sentinels "0.0000" (no bid) / "1.0000" (no ask)."""
        book = m.book
        bid, ask = book.best_bid(), book.best_ask()
        yes_bid = bid or 0
        yes_ask = ask or PRICE_SCALE
        top_bid = book.depth(OrderSide.BUY, 1)
        top_ask = book.depth(OrderSide.SELL, 1)
        created = _rfc3339(m.created_s)
        close = _rfc3339(m.created_s + 86400 * 30)
        structure = m.grid.name or "linear_cent"
        out = {
            "ticker": m.ticker,
            "event_ticker": m.event_ticker,
            "market_type": "binary",
            "title": m.title,
            "subtitle": "",
            "yes_sub_title": "Yes",
            "no_sub_title": "No",
            "created_time": created,
            "updated_time": created,
            "open_time": created,
            "close_time": close,
            "expiration_time": close,
            "latest_expiration_time": close,
            "settlement_timer_seconds": 60,
            "status": m.status,
            "response_price_units": "usd_cent",
            "yes_bid": _cents(yes_bid),
            "yes_ask": _cents(yes_ask),
            "no_bid": _cents(PRICE_SCALE - yes_ask),
            "no_ask": _cents(PRICE_SCALE - yes_bid),
            "last_price": _cents(m.last_price),
            "yes_bid_dollars": format_price(yes_bid),
            "yes_ask_dollars": format_price(yes_ask),
            "no_bid_dollars": format_price(PRICE_SCALE - yes_ask),
            "no_ask_dollars": format_price(PRICE_SCALE - yes_bid),
            "last_price_dollars": format_price(m.last_price),
            "yes_bid_size_fp": format_size(top_bid[0][1] if top_bid else 0, 2),
            "yes_ask_size_fp": format_size(top_ask[0][1] if top_ask else 0, 2),
            "volume": m.volume // SIZE_SCALE,
            "volume_24h": m.volume // SIZE_SCALE,
            "volume_fp": format_size(m.volume, 2),
            "volume_24h_fp": format_size(m.volume, 2),
            "open_interest": 0,
            "open_interest_fp": "0.00",
            "result": m.result,
            "can_close_early": True,
            "notional_value": 100,
            "notional_value_dollars": "1.0000",
            "previous_yes_bid": 0,
            "previous_yes_bid_dollars": "0.0000",
            "previous_yes_ask": 0,
            "previous_yes_ask_dollars": "0.0000",
            "previous_price": 0,
            "previous_price_dollars": "0.0000",
            "liquidity": 0,
            "liquidity_dollars": "0.0000",
            "expiration_value": "",
            "settlement_bounds_type": "default",
            "category": "Simulated",
            "risk_limit_cents": 0,
            "tick_size": max(1, m.tick // 100),
            "rules_primary": f"Resolves per the local simulator's settle command ({m.ticker}).",
            "rules_secondary": "",
            "price_level_structure": structure,
            # as the live venue writes them: bounds 0 and 1 inclusive, 4-decimal dollar strings
            "price_ranges": [{"start": _dollars4(r.start), "end": _dollars4(r.end),
                              "step": _dollars4(r.step)} for r in m.grid.ranges],
            "fractional_trading_enabled": False,
            "exchange_index": m.exchange_index,
        }
        return out if legacy else _live(out, LEGACY_MARKET_FIELDS)

    def position_json(self, ticker: str, pos: Position, resting: int, legacy: bool = False
                      ) -> dict[str, Any]:
        out = {
            "ticker": ticker,
            "exchange_index": self.markets[ticker].exchange_index,
            "total_traded": _money_cents(pos.traded),
            "total_traded_dollars": _money4(pos.traded),
            "position": pos.net // SIZE_SCALE,
            "position_fp": _signed_fp(pos.net),
            "market_exposure": _money_cents(pos.cost),
            "market_exposure_dollars": _money4(pos.cost),
            "realized_pnl": _money_cents(pos.realized),
            "realized_pnl_dollars": _money4(pos.realized),
            "resting_orders_count": resting,
            "fees_paid": _money_cents(pos.fees),
            "fees_paid_dollars": _money4(pos.fees),
            "last_updated_ts": _rfc3339(pos.updated_s),
        }
        return out if legacy else _live(out, LEGACY_POSITION_FIELDS)

    def event_positions_json(self, acct: Account, legacy: bool = False) -> list[dict[str, Any]]:
        events: dict[str, list[Position]] = {}
        for ticker, pos in acct.positions.items():
            events.setdefault(self.markets[ticker].event_ticker, []).append(pos)
        out = []
        for event, plist in sorted(events.items()):
            cost = sum(p.cost for p in plist)
            realized = sum(p.realized for p in plist)
            fees = sum(p.fees for p in plist)
            row = {
                "event_ticker": event,
                "total_cost": _money_cents(cost),
                "total_cost_dollars": _money4(cost),
                "total_cost_shares": sum(abs(p.net) for p in plist) // SIZE_SCALE,
                "total_cost_shares_fp": format_size(sum(abs(p.net) for p in plist), 2),
                "event_exposure": _money_cents(cost),
                "event_exposure_dollars": _money4(cost),
                "realized_pnl": _money_cents(realized),
                "realized_pnl_dollars": _money4(realized),
                "fees_paid": _money_cents(fees),
                "fees_paid_dollars": _money4(fees),
            }
            out.append(row if legacy else _live(row, LEGACY_EVENT_POSITION_FIELDS))
        return out


class _LevelView:
    """Aggregate sizes before a change, keyed as published ((yes|no, bid price)).

    The engine reports only the *new* size of each touched level while Kalshi publishes signed
    changes, so the old sizes are copied first (ladders are short: at most 99 levels a side).
    """

    __slots__ = ("_book", "_cache")

    def __init__(self, book: MatchingBook) -> None:
        self._book = book
        self._cache: dict[tuple[str, int], int] = {}
        for p, s in book.depth(OrderSide.BUY):
            self._cache[("yes", p)] = s
        for p, s in book.depth(OrderSide.SELL):
            self._cache[("no", PRICE_SCALE - p)] = s

    def get(self, key: tuple[str, int], default: int = 0) -> int:
        return self._cache.get(key, default)


def _last_per_level(changes: list[LevelChange]) -> list[LevelChange]:
    """Several engine results may touch one level: keep its final size only."""
    final: dict[tuple[OrderSide, int], LevelChange] = {}
    for ch in changes:
        final[(ch.side, ch.price)] = ch
    return list(final.values())


#: fields the live venue dropped (integer cents/counts removed 2026-03-12, venues.md §0) or
#: deprecated (``side``/``action``, docs order_direction); served only in legacy mode
LEGACY_ORDER_FIELDS: Final = frozenset({
    "side", "action", "yes_price", "no_price", "fill_count", "remaining_count", "initial_count",
    "taker_fees", "maker_fees", "taker_fill_cost", "maker_fill_cost", "queue_position",
})
LEGACY_FILL_FIELDS: Final = frozenset({
    "side", "action", "count", "price", "yes_price", "no_price", "yes_price_fixed",
    "no_price_fixed", "post_position_fp",
})
LEGACY_MARKET_FIELDS: Final = frozenset({
    "response_price_units", "yes_bid", "yes_ask", "no_bid", "no_ask", "last_price", "volume",
    "volume_24h", "open_interest", "notional_value", "previous_yes_bid", "previous_yes_ask",
    "previous_price", "liquidity", "liquidity_dollars", "risk_limit_cents", "tick_size",
})
LEGACY_POSITION_FIELDS: Final = frozenset({
    "total_traded", "position", "market_exposure", "realized_pnl", "resting_orders_count",
    "fees_paid",
})
LEGACY_EVENT_POSITION_FIELDS: Final = frozenset({
    "total_cost", "total_cost_shares", "event_exposure", "realized_pnl", "fees_paid",
})


def _live(obj: dict[str, Any], legacy_fields: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in legacy_fields}


def _revenue(pos: Position | None, buys_yes: bool, yes_price: int, size: int) -> int:
    """Signed cash of one fill before fees (docs fee_rounding: negative for buyers).

    Mirrors :meth:`Exchange._apply_position`: the part closing an opposite holding is sold at
    its own side's price, the rest is bought at the side's price.
    """
    net = pos.net if pos is not None else 0
    direction = 1 if buys_yes else -1
    close = min(size, max(0, -net * direction))
    sell_price = PRICE_SCALE - yes_price if buys_yes else yes_price
    buy_price = yes_price if buys_yes else PRICE_SCALE - yes_price
    return sell_price * close - buy_price * (size - close)


def _dollars4(price: int) -> str:
    """A grid bound as a dollar string; 0 and 1 included (``format_price`` refuses them)."""
    return f"{price // PRICE_SCALE}.{price % PRICE_SCALE:04d}"


def _money_cents(amount: int) -> int:
    """Legacy integer-cent fields: truncated toward zero (the dollar strings are exact)."""
    q = abs(amount) // CENT
    return q if amount >= 0 else -q


def _money4(amount: int) -> str:
    step = MONEY_SCALE // 10_000
    rounded = (amount // step) * step if amount >= 0 else -((-amount // step) * step)
    return format_money(Money(rounded), 4)


def _signed_fp(size: int) -> str:
    return format_size(Size(size), 2)


__all__ = [
    "Account",
    "BookDelta",
    "Exchange",
    "Position",
    "SimError",
    "SimMarket",
    "SimOrder",
    "SimSeries",
]
