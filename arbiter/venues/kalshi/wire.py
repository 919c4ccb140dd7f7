"""Kalshi wire forms <-> core units, tolerant of both generations (venues.md §0, §1.4, §1.6).

The live venue sends ``*_dollars`` / ``*_fp`` strings; the SDK era sent integer cents and counts.
Every reader here prefers the fixed-point field and falls back to the legacy one, and every value
goes straight from the wire string to an integer unit (never through float).

Direction: orders and fills carry ``outcome_side`` (yes|no) and ``book_side`` (bid|ask, bid = yes,
ask = no); ``side``/``action`` are deprecated and may be absent (docs
``/getting_started/order_direction``; ``kalshi-python-sync`` 3.34.0 ``models/order.py``,
``models/fill.py``: the new pair required, the old optional). The new pair collapses "buy NO at q"
and "sell YES at 1 - q" into one order, so a read reports it as *buy* of ``outcome_side`` at that
outcome's price; whoever knows what was sent re-expresses it with
:func:`arbiter.venues.base.in_terms_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from arbiter.core.book import Outcome
from arbiter.core.units import (
    CENT,
    MONEY_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    Money,
    Price,
    Size,
    UnitError,
    format_price,
    format_size,
    parse_money,
    parse_price,
    parse_size,
    price_from_cents,
    size_from_count,
)
from arbiter.venues.base import (
    Action,
    FillReport,
    OrderAck,
    OrderRequest,
    OrderStatus,
    PositionReport,
    TimeInForce,
)

VENUE: Final = "kalshi"

TIF_WIRE: Final = {
    TimeInForce.GTC: "good_till_canceled",
    TimeInForce.IOC: "immediate_or_cancel",
    TimeInForce.FOK: "fill_or_kill",
}
TIF_FROM_WIRE: Final = {v: k for k, v in TIF_WIRE.items()}

#: price grid per ``price_level_structure`` (finest step, in price units)
STRUCTURE_TICK: Final = {"linear_cent": 100, "tapered_deci_cent": 10, "deci_cent": 10}


class WireError(ValueError):
    """A venue answer we cannot interpret (missing field, bad number)."""


def _get(obj: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None


def read_price(obj: Mapping[str, Any], dollars: tuple[str, ...], cents: str | None) -> Price | None:
    value = _get(obj, *dollars)
    if value is not None:
        return parse_price(str(value))
    if cents is not None:
        c = obj.get(cents)
        if c is not None and not isinstance(c, bool) and int(c) > 0:
            return price_from_cents(int(c))
    return None


def read_count(obj: Mapping[str, Any], fp: str, legacy: str | None) -> Size | None:
    value = obj.get(fp)
    if value is not None:
        return parse_size(str(value))
    if legacy is not None:
        c = obj.get(legacy)
        if c is not None:
            if isinstance(c, str):
                return parse_size(c)
            return size_from_count(int(c))
    return None


def read_signed_count(obj: Mapping[str, Any], fp: str, legacy: str) -> int:
    value = obj.get(fp)
    if value is not None:
        text = str(value).strip()
        if text.startswith("-"):
            return -parse_size(text[1:])
        return parse_size(text)
    c = obj.get(legacy)
    return int(c) * SIZE_SCALE if c is not None else 0


def read_money(obj: Mapping[str, Any], dollars: str, cents: str | None) -> Money | None:
    value = obj.get(dollars)
    if value is not None:
        return parse_money(str(value))
    if cents is not None:
        c = obj.get(cents)
        if c is not None:
            return Money(int(c) * CENT)
    return None


def read_quote(obj: Mapping[str, Any], dollars: str, cents: str | None) -> Price | None:
    """A market's best bid/ask, ``None`` for an empty side.

    The venue reports an empty side with the sentinels ``"0.0000"`` (no bid) and ``"1.0000"``
    (no ask) rather than omitting it (venues.md §0.1; ``kalshi-python-sync`` 3.34.0 ``Market``
    requires every quote field), and neither is a tradable price.
    """
    value = obj.get(dollars)
    if value is not None:
        if _dollars6(value, dollars) in (0, MONEY_SCALE):
            return None
        return parse_price(str(value))
    c = obj.get(cents) if cents is not None else None
    if c is None or c in (0, 100):  # the legacy integer forms of the same sentinels
        return None
    return read_price(obj, (), cents)


#: computed values (averages, costs) carry up to 6 decimals (docs
#: ``/getting_started/fixed_point_migration``; SDK 3.34.0: "responses emit up to 6")
COMPUTED_DECIMALS: Final = 6


def _dollars6(value: object, name: str) -> Money:
    """A dollar string with at most 6 decimals, exactly, as Money (per contract for a price)."""
    if not isinstance(value, str):
        raise WireError(f"{name} is {_kind(value)}, not a decimal string")
    try:
        amount = parse_money(value)
    except UnitError as exc:
        raise WireError(f"{name}: {exc}") from None
    if amount % (MONEY_SCALE // 10**COMPUTED_DECIMALS):
        raise WireError(f"{name} {value!r} has more than {COMPUTED_DECIMALS} decimals")
    return amount


#: ``book_side`` -> the outcome it positions for: "bid = yes, ask = no, always"
#: (docs ``/getting_started/order_direction``)
BOOK_SIDE_OUTCOME: Final = {"bid": Outcome.YES, "ask": Outcome.NO}


def read_direction(obj: Mapping[str, Any]) -> tuple[Outcome, Action]:
    """(outcome, action) of an Order or Fill: ``outcome_side``/``book_side`` first.

    With the new fields the action is always BUY of ``outcome_side`` (they cannot tell a buy NO
    from a sell YES, see the module docstring); the deprecated ``side``/``action`` are read only
    when neither new field is present. Both new fields present and disagreeing is an error.
    """
    outcome_side, book_side = obj.get("outcome_side"), obj.get("book_side")
    if outcome_side is None and book_side is None:
        try:
            return Outcome(obj["side"]), Action(obj["action"])
        except KeyError as exc:
            raise WireError(f"no direction: outcome_side, book_side and {exc} are absent"
                            ) from None
    by_outcome = Outcome(outcome_side) if outcome_side is not None else None
    by_book = BOOK_SIDE_OUTCOME.get(book_side) if book_side is not None else None
    if book_side is not None and by_book is None:
        raise WireError(f"book_side {book_side!r} is not bid or ask")
    if by_outcome is not None and by_book is not None and by_outcome is not by_book:
        raise WireError(f"outcome_side {outcome_side!r} and book_side {book_side!r} disagree")
    outcome = by_outcome or by_book
    assert outcome is not None
    return outcome, Action.BUY


def _outcome_price(
    obj: Mapping[str, Any], outcome: Outcome, yes: tuple[str, ...], no: tuple[str, ...],
    yes_cents: str, no_cents: str,
) -> Price | None:
    """The price of ``outcome``, from its own field or as 1 - the other outcome's."""
    own, other = (yes, no) if outcome is Outcome.YES else (no, yes)
    own_c, other_c = (yes_cents, no_cents) if outcome is Outcome.YES else (no_cents, yes_cents)
    price = read_price(obj, own, own_c)
    if price is None:
        mirror = read_price(obj, other, other_c)
        if mirror is not None:
            price = Price(PRICE_SCALE - mirror)
    return price


def read_exchange_index(obj: Mapping[str, Any]) -> int | None:
    """``exchange_index`` (the shard) when present; a non-integer is an error, absent is None."""
    value = obj.get("exchange_index")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WireError(f"exchange_index {value!r} is not a shard number")
    return value


# -- order entry (events/orders, the live form) ---------------------------------------------------


def yes_axis(request: OrderRequest) -> tuple[str, Price]:
    """(``bid``|``ask``, YES price) for a request, per the §1.6.3 mapping table."""
    buy = request.action is Action.BUY
    if request.outcome is Outcome.YES:
        return ("bid" if buy else "ask"), request.price
    return ("ask" if buy else "bid"), Price(PRICE_SCALE - request.price)


def order_body(request: OrderRequest) -> dict[str, Any]:
    side, yes_price = yes_axis(request)
    body: dict[str, Any] = {
        "ticker": request.market,
        "client_order_id": request.client_order_id,
        "side": side,
        "count": format_size(request.size, 2),
        "price": format_price(yes_price, 4),
        "time_in_force": TIF_WIRE[request.tif],
        "self_trade_prevention_type": "taker_at_cross",
        "post_only": request.post_only,
        "reduce_only": False,
        "cancel_order_on_pause": False,
        "subaccount": 0,
    }
    if request.expires_at_s is not None:
        body["expiration_time"] = request.expires_at_s
    return body


def ack_from_create(request: OrderRequest, data: Mapping[str, Any]) -> OrderAck:
    """The flat events/orders 201 answer, expressed in the request's own terms.

    ``average_fill_price`` is a YES-book price like the request's ``price`` and, being computed,
    may carry up to 6 decimals (a fill across levels: 2 @ 0.28 + 1 @ 0.29 averages 0.283333):
    the cost of the filled part is then kept exactly as ``fill_cost`` (average x count, the
    venue's own numbers) and ``avg_fill_price`` only when it is a whole ``Price``. Anything
    unreadable raises :class:`WireError`; the client turns that into a lookup, never a drop.
    """
    try:
        order_id = str(data["order_id"])
    except KeyError:
        raise WireError(f"create-order answer without order_id: {sorted(data)}") from None
    try:
        filled = read_count(data, "fill_count", "fill_count_fp") or Size(0)
        remaining = read_count(data, "remaining_count", "remaining_count_fp")
    except (ValueError, UnitError) as exc:
        raise WireError(f"create-order answer {order_id}: {exc}") from None
    if remaining is None:
        remaining = Size(request.size - filled)
    avg = data.get("average_fill_price")
    avg_price: Price | None = None
    fill_cost: Money | None = None
    if avg is not None and filled:
        per = _dollars6(avg, "average_fill_price")  # YES price per contract, as Money
        if not 0 < per < MONEY_SCALE:
            raise WireError(f"average_fill_price {avg!r} is outside (0, 1)")
        if request.outcome is Outcome.NO:
            per = Money(MONEY_SCALE - per)
        fill_cost = Money(per * filled // SIZE_SCALE)  # exact: 1e-6 $ x 0.01 contract
        if per % (MONEY_SCALE // PRICE_SCALE) == 0:
            avg_price = Price(per // (MONEY_SCALE // PRICE_SCALE))
    fee = data.get("average_fee_paid")
    fees = Money(0)
    if fee is not None and filled:
        # average fee per contract x contracts, exact in Money units
        fees = Money(_dollars6(fee, "average_fee_paid") * filled // SIZE_SCALE)
    if remaining:
        status = OrderStatus.OPEN
    elif filled >= request.size:
        status = OrderStatus.FILLED
    else:
        status = OrderStatus.CANCELED
    ts_ms = data.get("ts_ms")
    return OrderAck(
        venue=VENUE,
        order_id=order_id,
        client_order_id=data.get("client_order_id") or request.client_order_id,
        market=request.market,
        outcome=request.outcome,
        action=request.action,
        price=request.price,
        size=request.size,
        filled=filled,
        remaining=remaining,
        status=status,
        avg_fill_price=avg_price,
        fees=fees,
        ts_ms=ts_ms if isinstance(ts_ms, int) else None,
        fill_cost=fill_cost,
    )


# -- reads (Order / Fill / MarketPosition objects with either generation of fields) --------------

_STATUS: Final = {
    "resting": OrderStatus.OPEN,
    "executed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
}


def ack_from_order(o: Mapping[str, Any]) -> OrderAck:
    """One Order object; direction from ``outcome_side``/``book_side`` (see the module doc)."""
    try:
        outcome, action = read_direction(o)
        price = _outcome_price(o, outcome, ("yes_price_dollars",), ("no_price_dollars",),
                               "yes_price", "no_price")
        if price is None:
            raise WireError("order without a price")
        filled = read_count(o, "fill_count_fp", "fill_count") or Size(0)
        remaining = read_count(o, "remaining_count_fp", "remaining_count") or Size(0)
        initial = read_count(o, "initial_count_fp", "initial_count") or Size(filled + remaining)
        status = _STATUS[str(o["status"])]
        if status is OrderStatus.FILLED and filled < initial:
            # an "executed" order short of its size (an IOC/FOK that stopped) holds no more
            status = OrderStatus.CANCELED
        fees = (read_money(o, "taker_fees_dollars", "taker_fees") or 0) + (
            read_money(o, "maker_fees_dollars", "maker_fees") or 0
        )
        return OrderAck(
            venue=VENUE,
            order_id=str(o["order_id"]),
            client_order_id=o.get("client_order_id") or None,
            market=str(o["ticker"]),
            outcome=outcome,
            action=action,
            price=price,
            size=initial,
            filled=filled,
            remaining=remaining,
            status=status,
            fees=Money(fees),
            exchange_index=read_exchange_index(o),
        )
    except (KeyError, ValueError, UnitError) as exc:
        raise WireError(f"cannot read order {o.get('order_id')!r}: {exc}") from None


def fill_from_wire(f: Mapping[str, Any]) -> FillReport:
    """One Fill: BUY of ``outcome_side`` at that outcome's price (legacy side/action fallback)."""
    try:
        outcome, action = read_direction(f)
        price = _outcome_price(
            f, outcome, ("yes_price_dollars", "yes_price_fixed"),
            ("no_price_dollars", "no_price_fixed"), "yes_price", "no_price",
        )
        if price is None:
            raise WireError("fill without a price")
        size = read_count(f, "count_fp", "count")
        if size is None:
            raise WireError("fill without a count")
        fee = f.get("fee_cost")
        ts = f.get("ts")
        return FillReport(
            venue=VENUE,
            fill_id=str(f.get("fill_id") or f["trade_id"]),
            order_id=str(f["order_id"]),
            client_order_id=f.get("client_order_id") or None,
            market=str(f.get("ticker") or f["market_ticker"]),
            outcome=outcome,
            action=action,
            price=price,
            size=size,
            fee=_dollars6(fee, "fee_cost") if fee is not None else Money(0),
            is_taker=bool(f.get("is_taker", False)),
            ts_ms=int(f["ts_ms"]) if f.get("ts_ms") is not None else int(ts or 0) * 1000,
            exchange_index=read_exchange_index(f),
        )
    except (KeyError, ValueError, UnitError) as exc:
        raise WireError(f"cannot read fill {f.get('fill_id')!r}: {exc}") from None


def position_from_wire(p: Mapping[str, Any]) -> PositionReport | None:
    """Kalshi's signed net position split into an outcome and a size; ``None`` when flat."""
    try:
        net = read_signed_count(p, "position_fp", "position")
        if net == 0:
            return None
        return PositionReport(
            venue=VENUE,
            market=str(p["ticker"]),
            outcome=Outcome.YES if net > 0 else Outcome.NO,
            size=Size(abs(net)),
            cost=read_money(p, "market_exposure_dollars", "market_exposure"),
            realized_pnl=read_money(p, "realized_pnl_dollars", "realized_pnl"),
            fees_paid=read_money(p, "fees_paid_dollars", "fees_paid"),
            exchange_index=read_exchange_index(p),
        )
    except (KeyError, ValueError, UnitError) as exc:
        raise WireError(f"cannot read position {p.get('ticker')!r}: {exc}") from None


def balance_from_wire(b: Mapping[str, Any]) -> Money:
    try:
        value = read_money(b, "balance_dollars", "balance")
    except (ValueError, UnitError) as exc:
        raise WireError(f"cannot read balance: {exc}") from None
    if value is None:
        raise WireError("balance answer without balance")
    return value


def shard_balances_from_wire(b: Mapping[str, Any]) -> dict[int, Money]:
    """``balance_breakdown``: the available balance of each exchange shard.

    Collateral is per shard: an order on a market of shard 1 is checked against shard 1's
    balance only (docs ``/getting_started/exchange_sharding``; SDK 3.34.0
    ``GetBalanceResponse.balance_breakdown: [IndexedBalance{exchange_index, balance}]``). A venue
    without the breakdown has one shard, 0, holding the whole balance.
    """
    breakdown = b.get("balance_breakdown")
    if breakdown is None:
        return {0: balance_from_wire(b)}
    if not isinstance(breakdown, list):
        raise WireError(f"balance_breakdown is {_kind(breakdown)}, not a list")
    out: dict[int, Money] = {}
    for i, entry in enumerate(breakdown):
        if not isinstance(entry, Mapping):
            raise WireError(f"balance_breakdown[{i}] is {_kind(entry)}, not an object")
        shard = read_exchange_index(entry)
        if shard is None:
            raise WireError(f"balance_breakdown[{i}] has no exchange_index")
        out[shard] = _dollars6(entry.get("balance"), f"balance_breakdown[{i}].balance")
    return out


# -- markets and books --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KalshiMarket:
    ticker: str
    event_ticker: str
    title: str
    status: str
    tick: int
    yes_bid: Price | None  # None: no bid (the venue's "0.0000")
    yes_ask: Price | None  # None: no ask (the venue's "1.0000")
    fractional: bool
    #: the shard the market is pinned to; a market without the field is on the default shard 0
    #: (docs ``/getting_started/exchange_sharding``: "All endpoints point to the default shard")
    exchange_index: int = 0


def market_from_wire(m: Mapping[str, Any]) -> KalshiMarket:
    try:
        structure = m.get("price_level_structure") or "linear_cent"
        tick = STRUCTURE_TICK.get(str(structure), 100)
        return KalshiMarket(
            ticker=str(m["ticker"]),
            event_ticker=str(m.get("event_ticker", "")),
            title=str(m.get("title") or ""),
            status=str(m.get("status", "")),
            tick=tick,
            yes_bid=read_quote(m, "yes_bid_dollars", "yes_bid"),
            yes_ask=read_quote(m, "yes_ask_dollars", "yes_ask"),
            fractional=bool(m.get("fractional_trading_enabled", False)),
            exchange_index=read_exchange_index(m) or 0,
        )
    except (KeyError, ValueError, UnitError) as exc:
        raise WireError(f"cannot read market {m.get('ticker')!r}: {exc}") from None


Levels = list[tuple[int, int]]


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _book_level(entry: object, cents: bool, where: str) -> tuple[int, int]:
    """One ``[price, count]`` pair to exact units; strings only where the form has strings.

    The dollar forms carry decimal strings and the cents form integers; a JSON float in either
    is refused rather than rounded, so no price or size ever passes through a binary float.
    """
    if not isinstance(entry, list | tuple) or len(entry) != 2:
        raise WireError(f"{where}: {entry!r} is not a [price, count] pair")
    raw_price, raw_count = entry
    try:
        if cents:
            price, size = price_from_cents(raw_price), size_from_count(raw_count)
        else:
            if not isinstance(raw_price, str) or not isinstance(raw_count, str):
                raise UnitError(
                    f"price and count must be decimal strings, got {raw_price!r}, {raw_count!r}"
                )
            price, size = parse_price(raw_price), parse_size(raw_count)
    except UnitError as exc:
        raise WireError(f"{where}: {exc}") from None
    if size <= 0:
        raise WireError(f"{where}: count {raw_count!r} is not positive")
    return price, size


def _book_side(source: Mapping[str, Any], name: str, key: str, cents: bool) -> Levels:
    raw = source.get(key)
    if raw is None:
        return []  # a missing or null side is how the venue shows an empty ladder
    if not isinstance(raw, list):
        raise WireError(f"{name}.{key} is {_kind(raw)}, not a list of [price, count] pairs")
    return [_book_level(entry, cents, f"{name}.{key}[{i}]") for i, entry in enumerate(raw)]


def orderbook_from_wire(data: Mapping[str, Any]) -> tuple[Levels, Levels]:
    """(YES bids, NO bids) from a ``GET /markets/{ticker}/orderbook`` body, in any of its forms.

    This is the one reader of that body: the REST client and ``arbiter scan`` snapshots both use
    it, so a body the client would refuse is refused offline too, with the same message.

    Preference follows venues.md §1.7: ``orderbook_fp``, then ``orderbook.*_dollars``, then the
    legacy integer cents in ``orderbook.yes``/``no``. Inside the chosen object a missing or null
    side is an empty ladder, because that is how the venue reports one (``{"orderbook": {"yes":
    null, "no": null}}``; the SDK-era form sends ``[]``). A body with *neither* object, ``{}``
    included, is an error and not an empty book: every form the venue has sent carries one of
    them, so such a body is something else (an error envelope, a proxy page, the wrong endpoint)
    and reading it as "no liquidity" would hide the failure behind a quiet market. Sort order is
    not trusted; the book sorts on load.

    Raises :class:`WireError` with one line naming the field and the problem.
    """
    if not isinstance(data, Mapping):
        raise WireError(f"order book body is {_kind(data)}, not an object")
    for name in ("orderbook_fp", "orderbook"):
        value = data.get(name)
        if value is not None and not isinstance(value, Mapping):
            raise WireError(f"'{name}' is {_kind(value)}, not an object")
    fp, legacy = data.get("orderbook_fp"), data.get("orderbook")
    if fp is not None:
        source, name, keys, cents = fp, "orderbook_fp", ("yes_dollars", "no_dollars"), False
    elif legacy is None:
        raise WireError("order book body has no 'orderbook_fp' or 'orderbook' object")
    elif legacy.get("yes_dollars") is not None or legacy.get("no_dollars") is not None:
        source, name, keys, cents = legacy, "orderbook", ("yes_dollars", "no_dollars"), False
    else:
        source, name, keys, cents = legacy, "orderbook", ("yes", "no"), True
    return _book_side(source, name, keys[0], cents), _book_side(source, name, keys[1], cents)
