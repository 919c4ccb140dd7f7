"""A Kalshi market's price grid from its REST object (``price_level_structure``, ``price_ranges``).

The ranges are the exact statement (docs ``/getting_started/fixed_point_migration``: "the
``price_ranges`` array provides the exact valid price intervals and tick sizes"), live as dollar
strings (``{"start": "0.0000", "end": "0.1000", "step": "0.0010"}``); the structure name is the
fallback when a market carries no ranges. A structure we do not know, ranges that disagree with
the named structure, or unreadable ranges raise :class:`GridError`: the market is not traded.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from arbiter.core.price_grid import PriceGrid, PriceGridError
from arbiter.core.units import PRICE_SCALE

__all__ = ["GridError", "grid_from_market", "grids_of"]


class GridError(ValueError):
    """A market whose price grid cannot be read or trusted; names the market."""


def _dollars(value: object, where: str) -> int:
    """A range bound or step: a dollar string in [0, 1] on the $0.0001 grid (0 and 1 allowed)."""
    if not isinstance(value, str):
        raise GridError(f"{where}: {value!r} is not a dollar string")
    try:
        units = Decimal(value.strip()) * PRICE_SCALE
    except InvalidOperation:
        raise GridError(f"{where}: {value!r} is not a price") from None
    if units != units.to_integral_value() or not 0 <= units <= PRICE_SCALE:
        raise GridError(f"{where}: {value!r} is not a price on the $0.0001 grid")
    return int(units)


def _legal(grid: PriceGrid) -> list[int]:
    return [p for p in range(grid.tick, PRICE_SCALE, grid.tick) if grid.contains(p)]


def grid_from_market(m: Mapping[str, Any]) -> PriceGrid:
    ticker = str(m.get("ticker", "?"))
    structure = m.get("price_level_structure")
    ranges = m.get("price_ranges")
    named: PriceGrid | None = None
    if structure is not None:
        try:
            named = PriceGrid.structure(str(structure))
        except PriceGridError as exc:
            raise GridError(f"{ticker}: {exc}") from None
    if not ranges:
        if named is None:
            raise GridError(f"{ticker}: market states neither price_level_structure nor "
                            "price_ranges")
        return named
    if not isinstance(ranges, list):
        raise GridError(f"{ticker}: price_ranges is not a list")
    parsed = []
    for i, r in enumerate(ranges):
        where = f"{ticker}: price_ranges[{i}]"
        if not isinstance(r, Mapping):
            raise GridError(f"{where} is not an object")
        parsed.append((_dollars(r.get("start"), where), _dollars(r.get("end"), where),
                       _dollars(r.get("step"), where)))
    try:
        grid = PriceGrid.from_ranges(parsed, str(structure or ""))
    except PriceGridError as exc:
        raise GridError(f"{ticker}: {exc}") from None
    if named is not None and _legal(grid) != _legal(named):
        raise GridError(f"{ticker}: price_ranges ({grid.describe()}) disagree with "
                        f"price_level_structure {structure!r}")
    return grid


def grids_of(markets: Mapping[str, Mapping[str, Any]], tickers: list[str]
             ) -> dict[str, PriceGrid | GridError]:
    """Each ticker's grid from the venue's market objects; unlisted or unreadable: its error."""
    out: dict[str, PriceGrid | GridError] = {}
    for t in tickers:
        m = markets.get(t)
        if m is None:
            out[t] = GridError(f"{t}: the venue does not list this market")
            continue
        try:
            out[t] = grid_from_market(m)
        except GridError as exc:
            out[t] = exc
    return out
