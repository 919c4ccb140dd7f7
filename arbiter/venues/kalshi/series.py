"""A Kalshi market's fee schedule as the venue states it: series, then the event's override.

``GET /series/{series_ticker}`` carries ``fee_type`` and ``fee_multiplier`` (kalshi-python-sync
3.34.0 ``models/series.py``; the multiplier is "a floating point multiplier applied to the fee
calculations", 1 = the schedule as printed). ``GET /events/{event_ticker}`` names the event's
series and may override either field (``models/event_data.py``: ``fee_type_override``,
``fee_multiplier_override``; "when null, the event ... falls back to the parent series' fee
structure"). Parsing is pure; :class:`~arbiter.venues.kalshi.rest.KalshiRestClient` fetches.
A fee type we cannot price, or a multiplier that is not a number, is a
:class:`~arbiter.core.fees.KalshiFeeError`: the market is not traded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from arbiter.core.fees import KalshiFeeError, KalshiSeriesFees, parse_fee_type
from arbiter.core.price_grid import STRUCTURES, PriceGrid

__all__ = [
    "KalshiSeriesInfo",
    "MarketFees",
    "event_series_ticker",
    "fees_with_event_override",
    "kalshi_pair_updates",
    "multiplier_from_wire",
    "pair_fields",
    "series_from_wire",
]


def multiplier_from_wire(value: object, where: str) -> Fraction:
    """The venue's JSON number (or a decimal string) as an exact fraction.

    JSON floats are read through their shortest repr ("0.5", "1.25"), which is the decimal the
    venue wrote; a bool, null or text that is not a number is refused.
    """
    if isinstance(value, bool) or value is None:
        raise KalshiFeeError(f"{where}: fee_multiplier {value!r} is not a number")
    try:
        if isinstance(value, int):
            result = Fraction(value)
        elif isinstance(value, float):
            result = Fraction(Decimal(repr(value)))
        elif isinstance(value, str):
            result = Fraction(Decimal(value.strip()))
        else:
            raise InvalidOperation
    except (InvalidOperation, ValueError, OverflowError):
        raise KalshiFeeError(f"{where}: fee_multiplier {value!r} is not a number") from None
    if result < 0:
        raise KalshiFeeError(f"{where}: fee_multiplier {value!r} is negative")
    return result


@dataclass(frozen=True, slots=True)
class KalshiSeriesInfo:
    """The fields of a series the engine uses; the raw type/multiplier are kept for reports."""

    ticker: str
    title: str
    fee_type: str
    fee_multiplier: Fraction

    def fees(self) -> KalshiSeriesFees:
        return KalshiSeriesFees(parse_fee_type(self.fee_type, f"series {self.ticker}"),
                                self.fee_multiplier)


def series_from_wire(data: Mapping[str, Any]) -> KalshiSeriesInfo:
    """``GET /series/{ticker}``'s body (``{"series": {...}}``) or the inner object."""
    s = data.get("series", data)
    if not isinstance(s, Mapping) or not isinstance(s.get("ticker"), str):
        raise KalshiFeeError("series answer has no series object with a ticker")
    ticker = s["ticker"]
    where = f"series {ticker}"
    if "fee_type" not in s:
        raise KalshiFeeError(f"{where}: the answer has no fee_type")
    fee_type = parse_fee_type(s["fee_type"], where)
    if "fee_multiplier" not in s:
        raise KalshiFeeError(f"{where}: the answer has no fee_multiplier")
    return KalshiSeriesInfo(ticker, str(s.get("title", "")), fee_type.value,
                            multiplier_from_wire(s["fee_multiplier"], where))


def event_series_ticker(data: Mapping[str, Any]) -> str:
    """The series an event belongs to (``GET /events/{ticker}`` → ``event.series_ticker``)."""
    event = data.get("event", data)
    ticker = event.get("series_ticker") if isinstance(event, Mapping) else None
    if not isinstance(ticker, str) or not ticker:
        raise KalshiFeeError("event answer names no series_ticker")
    return ticker


@dataclass(frozen=True, slots=True)
class MarketFees:
    """What one market charges and where each half of it came from (for `pairs refresh`)."""

    market: str
    event: str
    series: str
    fees: KalshiSeriesFees
    overridden: bool


def fees_with_event_override(
    market: str, event_data: Mapping[str, Any], series: KalshiSeriesInfo
) -> MarketFees:
    """Apply an event's ``fee_type_override`` / ``fee_multiplier_override`` to its series."""
    event = event_data.get("event", event_data)
    if not isinstance(event, Mapping):
        raise KalshiFeeError(f"market {market}: event answer is not an object")
    event_ticker = str(event.get("event_ticker", ""))
    where = f"event {event_ticker}"
    fee_type = series.fee_type
    multiplier = series.fee_multiplier
    overridden = False
    if event.get("fee_type_override") is not None:
        fee_type = parse_fee_type(event["fee_type_override"], where).value
        overridden = True
    if event.get("fee_multiplier_override") is not None:
        multiplier = multiplier_from_wire(event["fee_multiplier_override"], where)
        overridden = True
    fees = KalshiSeriesFees(parse_fee_type(fee_type, where), multiplier)
    return MarketFees(market, event_ticker, series.ticker, fees, overridden)


def _decimal_text(value: Fraction) -> str:
    """An exact decimal string for a fraction whose denominator is 2^a x 5^b."""
    den = value.denominator
    places = 0
    while den % 10 == 0 or den % 2 == 0 or den % 5 == 0:
        if den % 10 == 0:
            den //= 10
        elif den % 2 == 0:
            den //= 2
        else:
            den //= 5
        places += 1
    if den != 1:
        raise KalshiFeeError(f"fee multiplier {value} has no exact decimal form")
    text = f"{Decimal(value.numerator) / Decimal(value.denominator):.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pair_fields(fees: MarketFees, grid: PriceGrid | None = None) -> dict[str, str]:
    """The pairs-file keys of a market's schedule (and grid), as ``arbiter pairs refresh``
    writes them.

    ``kalshi_fee_multiplier`` is the venue's multiplier on the schedule (1 = as printed), the
    meaning :func:`arbiter.core.pairs.parse_pairs` gives it; ``grid`` (from
    ``KalshiRestClient.market_grids``) adds ``kalshi_price_level_structure``.
    """
    out = {
        "kalshi_fee_type": fees.fees.fee_type.value,
        "kalshi_fee_multiplier": _decimal_text(fees.fees.multiplier),
    }
    if grid is not None:
        name = next((n for n, g in STRUCTURES.items() if g == grid), None)
        if name is None:
            raise KalshiFeeError(f"market {fees.market}: its price grid ({grid.describe()}) is "
                                 "none of the named structures the pairs file can state")
        out["kalshi_price_level_structure"] = name
    return out


async def kalshi_pair_updates(
    client: Any, pairs: Iterable[Any]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """For ``arbiter pairs refresh``: each pair's Kalshi fields from the venue.

    ``client`` is a :class:`~arbiter.venues.kalshi.rest.KalshiRestClient`, ``pairs`` the parsed
    :class:`~arbiter.core.pairs.Pair` list. Returns (pair name -> ``kalshi_fee_type``,
    ``kalshi_fee_multiplier``, ``kalshi_price_level_structure``) and (pair name -> why it could
    not be refreshed: an unknown fee type or grid, a venue error). A failed pair's lines should be
    left as they are and the pair reported: nothing here guesses a schedule.
    """
    from arbiter.venues.base import VenueError
    from arbiter.venues.kalshi.grid import GridError

    pairs = list(pairs)
    grids = await client.market_grids([p.kalshi_ticker for p in pairs])
    updates: dict[str, dict[str, str]] = {}
    failed: dict[str, str] = {}
    for pair in pairs:
        try:
            grid = grids[pair.kalshi_ticker]
            if isinstance(grid, GridError):
                raise grid
            updates[pair.name] = pair_fields(await client.market_fees(pair.kalshi_ticker), grid)
        except (KalshiFeeError, GridError, VenueError) as exc:
            failed[pair.name] = str(exc)
    return updates, failed
