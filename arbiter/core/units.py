"""Exact fixed-point units shared by every layer (see docs/adr/0002-fixed-point-units.md).

Both venues quote decimal strings; binary floats would turn 0.07 x 0.35 into rounding noise
that a fee rule then rounds the wrong way. So the core only ever sees integers:

* ``Price``: units of $0.0001 (``PRICE_SCALE`` per dollar). Polymarket's finest tick is 0.0001
  and Kalshi's finest grid step is $0.001, so one unit represents every legal price of both.
* ``Size``: units of 1e-6 contract/share (``SIZE_SCALE`` per contract). Kalshi counts have at most
  2 decimals; Polymarket amounts have 6, so resting sizes left by partial fills stay exact.
* ``Money``: units of 1e-10 dollar (``MONEY_SCALE`` = ``PRICE_SCALE * SIZE_SCALE``), so that
  ``price * size`` is already money with no rounding at all. Fees are rounded to each venue's
  precision explicitly, by the fee models, never implicitly by a unit change.

Parsing happens once, at the wire, through the functions below; every one of them rejects a value
that does not fit (too many decimals, off-tick, outside the open interval (0, 1), negative) with a
:class:`UnitError` that names the value.
"""

from __future__ import annotations

from typing import Final, NewType

Price = NewType("Price", int)
Size = NewType("Size", int)
Money = NewType("Money", int)

PRICE_DECIMALS: Final = 4
SIZE_DECIMALS: Final = 6
MONEY_DECIMALS: Final = PRICE_DECIMALS + SIZE_DECIMALS
PRICE_SCALE: Final = 10**PRICE_DECIMALS
SIZE_SCALE: Final = 10**SIZE_DECIMALS
MONEY_SCALE: Final = PRICE_SCALE * SIZE_SCALE

ONE_DOLLAR: Final = Price(PRICE_SCALE)
ONE_CONTRACT: Final = Size(SIZE_SCALE)
CENT: Final = Money(MONEY_SCALE // 100)
#: Polymarket's legal tick sizes, as wire strings, mapped to price units: the SDKs' ``TickSize``
#: (``py-clob-client-v2`` 1.2.1 ``clob_types.py``; ``polymarket-client`` 0.14.0
#: ``_internal/actions/orders/market_data.py::_ALLOWED_TICK_SIZES``).
POLYMARKET_TICKS: Final = {
    "0.1": 1000, "0.01": 100, "0.005": 50, "0.0025": 25, "0.001": 10, "0.0001": 1,
}
#: Kalshi's integer-cent grid in price units.
KALSHI_CENT_TICK: Final = 100


class UnitError(ValueError):
    """A wire value that cannot be represented exactly in the core's units."""


def _parse_fixed(text: str, decimals: int, what: str) -> int:
    """Parse a plain decimal string into an integer scaled by ``10**decimals``, exactly.

    Hand-rolled rather than ``Decimal`` because it sits on the WebSocket hot path; it accepts
    only the plain forms both venues emit ("13", "0.42", ".5", "13.00").
    """
    if not isinstance(text, str):
        raise UnitError(f"{what} must be a decimal string, got {type(text).__name__} {text!r}")
    s = text.strip()
    negative = s.startswith("-")
    if negative or s.startswith("+"):
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if (not whole and not frac) or not (whole.isdigit() or whole == "") or (
        dot and frac and not frac.isdigit()
    ) or not whole.isascii() or not frac.isascii():
        raise UnitError(f"{what} {text!r} is not a decimal number")
    if len(frac) > decimals:
        extra = frac[decimals:]
        if extra.strip("0"):
            raise UnitError(f"{what} {text!r} has more than {decimals} decimals")
        frac = frac[:decimals]
    value: int = int(whole or "0") * 10**decimals + int((frac + "0" * decimals)[:decimals] or "0")
    return -value if negative else value


def parse_price(text: str, tick: int = 1) -> Price:
    """Dollar price string ("0.4200") to ``Price``; must lie strictly inside (0, 1) and on ``tick``."""
    value = _parse_fixed(text, PRICE_DECIMALS, "price")
    return check_price(value, tick, text)


def check_price(value: int, tick: int = 1, shown: object = None) -> Price:
    """Validate an integer price: inside (0, 1) and a multiple of ``tick`` price units."""
    label = shown if shown is not None else format_price(value)
    if not 0 < value < PRICE_SCALE:
        raise UnitError(f"price {label!r} is outside the open interval (0, 1)")
    if value % tick:
        raise UnitError(f"price {label!r} is not a multiple of the tick {format_price(tick)}")
    return Price(value)


def price_from_cents(cents: int) -> Price:
    """Kalshi legacy integer cents (1..99) to ``Price``."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise UnitError(f"price in cents must be an integer, got {cents!r}")
    return check_price(cents * 100, KALSHI_CENT_TICK, f"{cents}c")


def parse_size(text: str, decimals: int = SIZE_DECIMALS) -> Size:
    """Contract/share count string to ``Size``; non-negative, at most ``decimals`` decimals."""
    value = _parse_fixed(text, decimals, "size")
    if value < 0:
        raise UnitError(f"size {text!r} is negative")
    return Size(value * 10 ** (SIZE_DECIMALS - decimals))


def size_from_count(count: int) -> Size:
    """Whole contract count (Kalshi legacy integers) to ``Size``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UnitError(f"count must be a non-negative integer, got {count!r}")
    return Size(count * SIZE_SCALE)


def parse_money(text: str) -> Money:
    """Dollar amount string ("10000.00", "-1.5") to ``Money``."""
    return Money(_parse_fixed(text, MONEY_DECIMALS, "amount"))


def parse_tick(text: str) -> int:
    """Polymarket tick-size string to price units; only the venue's six ticks are legal."""
    key = text if isinstance(text, str) else str(text)
    try:
        return POLYMARKET_TICKS[key]
    except KeyError:
        raise UnitError(
            f"tick size {text!r} is not one of {', '.join(POLYMARKET_TICKS)}"
        ) from None


def _format_fixed(value: int, decimals: int, places: int) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    if places > decimals:
        raise ValueError("cannot show more places than the unit holds")
    drop = decimals - places
    if drop and value % 10**drop:
        raise UnitError(f"{value} units do not fit in {places} decimals")
    value //= 10**drop
    if places == 0:
        return f"{sign}{value}"
    whole, frac = divmod(value, 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


def format_price(price: int, places: int = PRICE_DECIMALS) -> str:
    """``Price`` to a dollar string with exactly ``places`` decimals (raises if it would round)."""
    return _format_fixed(price, PRICE_DECIMALS, places)


def format_size(size: int, places: int = 2) -> str:
    """``Size`` to a count string; raises :class:`UnitError` rather than silently rounding."""
    return _format_fixed(size, SIZE_DECIMALS, places)


def format_money(amount: int, places: int = MONEY_DECIMALS) -> str:
    """``Money`` to a dollar string with ``places`` decimals (exact; raises if it would round)."""
    return _format_fixed(amount, MONEY_DECIMALS, places)


def format_decimal(value: int, decimals: int) -> str:
    """Shortest exact decimal string of ``value / 10**decimals`` ("1.5", "0.42", "3")."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    if not frac:
        return f"{sign}{whole}"
    digits = f"{frac:0{decimals}d}".rstrip("0")
    return f"{sign}{whole}.{digits}"


def money_str(amount: int) -> str:
    """Shortest exact dollar string of a ``Money`` value, the form reports and the CLI print."""
    return format_decimal(amount, MONEY_DECIMALS)


def size_str(size: int) -> str:
    """Shortest exact count string of a ``Size`` value."""
    return format_decimal(size, SIZE_DECIMALS)


def price_str(price: int) -> str:
    """Shortest exact dollar string of a ``Price`` value."""
    return format_decimal(price, PRICE_DECIMALS)


def notional(price: int, size: int) -> Money:
    """Exact cost of ``size`` at ``price``: the unit choice makes this a plain product."""
    return Money(price * size)


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer ceiling division for non-negative denominators (no float detour)."""
    return -(-numerator // denominator)


def ceil_to(amount: int, step: int) -> int:
    """Round ``amount`` up to the next multiple of ``step``."""
    return ceil_div(amount, step) * step
