"""A market's legal prices: one or more ranges, each with its own step (Kalshi's price levels).

Kalshi states each market's grid (docs ``/getting_started/fixed_point_migration``, "Price Level
Structures"; kalshi-python-sync 3.34.0 ``Market.price_level_structure`` and ``price_ranges``):

| structure | ranges |
|---|---|
| ``linear_cent`` | $0.00-$1.00 step $0.01 |
| ``tapered_deci_cent`` | $0.00-$0.10 step $0.001, $0.10-$0.90 step $0.01, $0.90-$1.00 step $0.001 |
| ``deci_cent`` | $0.00-$1.00 step $0.001 |

Live answers carry the ranges as dollar strings, e.g. ``{"start": "0.0000", "end": "0.1000",
"step": "0.0010"}``. A price is on the grid when it lies strictly inside (0, 1) and in some range
``start <= p <= end`` with ``(p - start) % step == 0``. Books index levels on the grid's finest
step and refuse any level the grid does not allow (:class:`OffGridError`, naming the market).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from math import gcd
from typing import Final

from arbiter.core.units import PRICE_SCALE, UnitError, format_price

__all__ = [
    "STRUCTURES",
    "OffGridError",
    "PriceGrid",
    "PriceGridError",
    "PriceRange",
]


class PriceGridError(ValueError):
    """A grid description that cannot be trusted (unknown structure, bad ranges)."""


class OffGridError(UnitError):
    """A price the market's grid does not allow; the message names the market."""


@dataclass(frozen=True, slots=True)
class PriceRange:
    start: int
    end: int
    step: int


@dataclass(frozen=True, slots=True)
class PriceGrid:
    """Legal prices of one market (price units of $0.0001)."""

    #: grids are equal when they allow the same prices (``tick`` and ``valid`` say which)
    ranges: tuple[PriceRange, ...] = field(compare=False)
    name: str = field(default="", compare=False)
    #: the finest step every legal price is a multiple of (a book's ladder index)
    tick: int = field(init=False)
    #: valid[price // tick] for every index of (0, PRICE_SCALE); None when every index is valid
    valid: bytes | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ranges:
            raise PriceGridError("a price grid needs at least one range")
        for r in self.ranges:
            if not (0 <= r.start < r.end <= PRICE_SCALE) or r.step <= 0:
                raise PriceGridError(f"bad price range {r}")
        tick = reduce(gcd, [v for r in self.ranges for v in (r.step, r.start)], 0)
        if tick <= 0 or PRICE_SCALE % tick:
            raise PriceGridError(f"price ranges {self.ranges} have no common tick")
        object.__setattr__(self, "tick", tick)
        flags = bytearray(PRICE_SCALE // tick + 1)
        for r in self.ranges:
            for p in range(r.start, r.end + 1, r.step):
                if 0 < p < PRICE_SCALE:
                    flags[p // tick] = 1
        uniform = all(flags[1:-1])
        object.__setattr__(self, "valid", None if uniform else bytes(flags))

    def mirrored(self) -> bytes | None:
        """Validity by index of ``1 - price`` (a NO bid at q is a YES ask at 1 - q)."""
        return None if self.valid is None else self.valid[::-1]

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def uniform(cls, tick: int, name: str = "") -> PriceGrid:
        return cls((PriceRange(0, PRICE_SCALE, tick),), name)

    @classmethod
    def structure(cls, name: str) -> PriceGrid:
        grid = STRUCTURES.get(name)
        if grid is None:
            known = ", ".join(STRUCTURES)
            raise PriceGridError(f"unknown price level structure {name!r} (known: {known})")
        return grid

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int, int]], name: str = "") -> PriceGrid:
        return cls(tuple(PriceRange(*r) for r in ranges), name)

    # -- queries -----------------------------------------------------------------------------
    @property
    def is_uniform(self) -> bool:
        return self.valid is None

    def contains(self, price: int) -> bool:
        if not 0 < price < PRICE_SCALE or price % self.tick:
            return False
        return self.valid is None or bool(self.valid[price // self.tick])

    def check(self, price: int, market: str) -> int:
        """``price`` if legal, else :class:`OffGridError` naming ``market``."""
        if not self.contains(price):
            raise OffGridError(
                f"{market}: price {format_price(price) if 0 < price < PRICE_SCALE else price} is "
                f"not on the market's price grid ({self.describe()})"
            )
        return price

    def floor(self, price: int) -> int | None:
        """The highest legal price <= ``price`` (None below the lowest)."""
        p = min(price, PRICE_SCALE - 1)
        p -= p % self.tick
        while p > 0 and not self.contains(p):
            p -= self.tick
        return p if p > 0 else None

    def ceil(self, price: int) -> int | None:
        """The lowest legal price >= ``price`` (None above the highest)."""
        p = max(price, 1)
        p += -p % self.tick
        while p < PRICE_SCALE and not self.contains(p):
            p += self.tick
        return p if p < PRICE_SCALE else None

    @property
    def lowest(self) -> int:
        low = self.ceil(1)
        assert low is not None
        return low

    @property
    def highest(self) -> int:
        high = self.floor(PRICE_SCALE - 1)
        assert high is not None
        return high

    def describe(self) -> str:
        parts = ", ".join(
            f"{format_price(r.start)}-{format_price(r.end)} step {format_price(r.step)}"
            for r in self.ranges
        )
        return f"{self.name}: {parts}" if self.name else parts

    def text(self) -> str:
        """Compact round-trippable form for journals: ``start:end:step,...`` in price units."""
        return ",".join(f"{r.start}:{r.end}:{r.step}" for r in self.ranges)

    @classmethod
    def parse_text(cls, text: str) -> PriceGrid:
        try:
            ranges = [tuple(int(v) for v in part.split(":")) for part in text.split(",")]
            return cls.from_ranges([(a, b, c) for a, b, c in ranges])
        except (ValueError, TypeError):
            raise PriceGridError(f"bad price grid text {text!r}") from None


_CENT: Final = 100
_DECI: Final = 10
STRUCTURES: Final = {
    "linear_cent": PriceGrid((PriceRange(0, PRICE_SCALE, _CENT),), "linear_cent"),
    "tapered_deci_cent": PriceGrid(
        (PriceRange(0, 1000, _DECI), PriceRange(1000, 9000, _CENT),
         PriceRange(9000, PRICE_SCALE, _DECI)),
        "tapered_deci_cent",
    ),
    "deci_cent": PriceGrid((PriceRange(0, PRICE_SCALE, _DECI),), "deci_cent"),
}
