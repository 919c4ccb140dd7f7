"""Kalshi wire forms <-> core units, tolerant of both generations (venues.md §0, §1.4, §1.6).

The live venue sends ``*_dollars`` / ``*_fp`` strings; the SDK era sent integer cents and counts.
Every reader here prefers the fixed-point field and falls back to the legacy one, and every value
goes straight from the wire string to an integer unit (never through float).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from arbiter.core.book import Outcome
from arbiter.core.units import (
    CENT,
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
    """The flat events/orders 201 answer, expressed in the request's own terms."""
    try:
        order_id = str(data["order_id"])
    except KeyError:
        raise WireError(f"create-order answer without order_id: {sorted(data)}") from None
    filled = read_count(data, "fill_count", "fill_count_fp") or Size(0)
    remaining = read_count(data, "remaining_count", "remaining_count_fp")
    if remaining is None:
        remaining = Size(request.size - filled)
    avg = data.get("average_fill_price")
    avg_price: Price | None = None
    if avg is not None:
        yes_avg = parse_price(str(avg))
        avg_price = yes_avg if request.outcome is Outcome.YES else Price(PRICE_SCALE - yes_avg)
    fee = data.get("average_fee_paid")
    fees = Money(0)
    if fee is not None and filled:
        # average fee per contract x contracts, exact in Money units
        fees = Money(parse_money(str(fee)) * filled // SIZE_SCALE)
    if remaining:
        status = OrderStatus.OPEN
    elif filled >= request.size:
        status = OrderStatus.FILLED
    else:
        status = OrderStatus.CANCELED
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
        ts_ms=data.get("ts_ms"),
    )


# -- reads (legacy Order / Fill / MarketPosition objects with either generation of fields) -------

_STATUS: Final = {
    "resting": OrderStatus.OPEN,
    "executed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
}


def ack_from_order(o: Mapping[str, Any]) -> OrderAck:
    try:
        outcome = Outcome(o["side"])
        action = Action(o["action"])
        if outcome is Outcome.YES:
            price = read_price(o, ("yes_price_dollars",), "yes_price")
        else:
            price = read_price(o, ("no_price_dollars",), "no_price")
        if price is None:
            raise WireError("order without a price")
        filled = read_count(o, "fill_count_fp", "fill_count") or Size(0)
        remaining = read_count(o, "remaining_count_fp", "remaining_count") or Size(0)
        initial = read_count(o, "initial_count_fp", "initial_count") or Size(filled + remaining)
        status = _STATUS[str(o["status"])]
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
        )
    except (KeyError, ValueError, UnitError) as exc:
        raise WireError(f"cannot read order {o.get('order_id')!r}: {exc}") from None


def fill_from_wire(f: Mapping[str, Any]) -> FillReport:
    try:
        outcome = Outcome(f["side"])
        if outcome is Outcome.YES:
            price = read_price(f, ("yes_price_dollars", "yes_price_fixed"), "yes_price")
        else:
            price = read_price(f, ("no_price_dollars", "no_price_fixed"), "no_price")
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
            market=str(f.get("market_ticker") or f["ticker"]),
            outcome=outcome,
            action=Action(f["action"]),
            price=price,
            size=size,
            fee=parse_money(str(fee)) if fee is not None else Money(0),
            is_taker=bool(f.get("is_taker", False)),
            ts_ms=int(f["ts_ms"]) if f.get("ts_ms") is not None else int(ts or 0) * 1000,
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
        )
    except (KeyError, ValueError, UnitError) as exc:
        raise WireError(f"cannot read position {p.get('ticker')!r}: {exc}") from None


def balance_from_wire(b: Mapping[str, Any]) -> Money:
    value = read_money(b, "balance_dollars", "balance")
    if value is None:
        raise WireError("balance answer without balance")
    return value


# -- markets and books --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KalshiMarket:
    ticker: str
    event_ticker: str
    title: str
    status: str
    tick: int
    yes_bid: Price | None
    yes_ask: Price | None
    fractional: bool


def market_from_wire(m: Mapping[str, Any]) -> KalshiMarket:
    try:
        structure = m.get("price_level_structure") or "linear_cent"
        tick = STRUCTURE_TICK.get(str(structure), 100)
        return KalshiMarket(
            ticker=str(m["ticker"]),
            event_ticker=str(m.get("event_ticker", "")),
            title=str(m.get("title", "")),
            status=str(m.get("status", "")),
            tick=tick,
            yes_bid=read_price(m, ("yes_bid_dollars",), "yes_bid"),
            yes_ask=read_price(m, ("yes_ask_dollars",), "yes_ask"),
            fractional=bool(m.get("fractional_trading_enabled", False)),
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
