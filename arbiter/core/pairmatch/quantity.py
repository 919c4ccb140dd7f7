"""Numbers in market wording: thresholds with units and comparators, kept apart from dates.

The old scorer read "25bps" as no number and "25 bps" as 25, and counted the year in "in 2026"
as a threshold. Here a threshold is a :class:`Quantity` — an exact value (``Fraction``), a unit
(``bps``, ``%``, ``$``, ``pts`` or none) and the set of values that make the proposition true
(an :class:`Interval`) — while years and calendar dates are recognised first and removed, so
"above 4.25% in 2026" yields one threshold (> 4.25 %), never 2026. Scale suffixes ``k``/``m``/
``b`` multiply ("$100k" = 100000 $) and basis points are their own unit (25 bps ≠ 0.25 %: the
venues quote rate moves in bps and levels in %, and the two are never silently converted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Interval", "Quantity", "parse_quantities", "strip_dates"]

_MONTHS = (
    "jan|january|feb|february|mar|march|apr|april|may|jun|june|jul|july|aug|august|sep|sept|"
    "september|oct|october|nov|november|dec|december"
)
#: calendar dates and years: removed before thresholds are read
_DATE = re.compile(
    rf"\b(?:(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d{{2}})?"
    rf"|\d{{1,2}}\s+(?:{_MONTHS})(?:\s+(?:19|20)\d{{2}})?"
    r"|(?:19|20)\d{2}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2})?z?)?"
    # a season ("in 2026-27", "2025/26"): a span of years, never a threshold or a range
    r"|(?:19|20)\d{2}[-–/]\d{2}(?![-\d])"
    r"|q[1-4]\s+(?:19|20)\d{2})\b",
    re.IGNORECASE,
)
#: a bare year ("in 2026"), unless a comparator, "$" or a unit marks it as an amount
_YEAR = re.compile(r"(?<![\d,.$])\b(?:19|20)\d{2}\b(?![\d,.]|\s*(?:k|m|bps|%|pts|points)\b)",
                   re.IGNORECASE)
_AMOUNT_BEFORE = re.compile(r"(?:above|over|below|under|than|least|most|[<>≥≤$])\s*$",
                            re.IGNORECASE)
_TIME = re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:am|pm)\b(?:\s*(?:et|est|edt|utc|pt|ct))?",
                   re.IGNORECASE)
#: temperatures as the weather ladders write them ("26-27F", "52-53°F", "25F or below")
_UNIT = r"(?:bps|bp|basis points|percent|pts|points|point)\b|%|°\s*[fc]\b|f\b"
#: a number stands alone: glued to letters it is part of a name ("76ers", "H5N1", "Q3"), not an
#: amount (units and scales it carries itself: "25bps", "$100k")
_NUM = (rf"(?<![A-Za-z\d.])[-+]?\$?\d+(?:,\d{{3}})*(?:\.\d+)?(?:\s*(?:k|m|bn|mn|b)\b)?\+?"
        rf"(?:\s*(?:{_UNIT}))?(?![A-Za-z\d])")
_RANGE = re.compile(rf"(?:between\s+)?({_NUM})\s*(?:-|–|to|and)\s*({_NUM})", re.IGNORECASE)
_ONE = re.compile(_NUM, re.IGNORECASE)
_PARTS = re.compile(
    rf"([-+])?(\$)?(\d+(?:,\d{{3}})*(?:\.\d+)?)(?:\s*(k|m|bn|mn|b)\b)?\+?(?:\s*({_UNIT}))?",
    re.IGNORECASE)
_SCALE = {"k": 1000, "m": 10**6, "mn": 10**6, "b": 10**9, "bn": 10**9}
_UNITS = {"bps": "bps", "bp": "bps", "basis points": "bps", "%": "%", "percent": "%",
          "pts": "pts", "points": "pts", "point": "pts", "f": "°F", "°f": "°F", "°c": "°C"}
#: comparator words before a number, and the interval they give
_ABOVE = re.compile(r"(?:above|over|more than|greater than|exceeds?|higher than|at least|>=|≥|>|"
                    r"or more|\+)\s*$", re.IGNORECASE)
_BELOW = re.compile(r"(?:below|under|less than|fewer than|lower than|at most|<=|≤|<)\s*$",
                    re.IGNORECASE)
_INCLUSIVE_BEFORE = re.compile(r"(?:at least|>=|≥)\s*$", re.IGNORECASE)
_INCLUSIVE_BELOW = re.compile(r"(?:at most|<=|≤)\s*$", re.IGNORECASE)
_OR_MORE_AFTER = re.compile(r"^\s*(?:\+|or more|or above|or higher|and above)", re.IGNORECASE)
_OR_LESS_AFTER = re.compile(r"^\s*(?:or less|or fewer|or below|and below)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Interval:
    """A set of real values ``lo .. hi``; ``None`` is unbounded; flags say if an end is in."""

    lo: Fraction | None = None
    hi: Fraction | None = None
    lo_in: bool = False
    hi_in: bool = False

    @classmethod
    def above(cls, v: Fraction, inclusive: bool = False) -> Interval:
        return cls(lo=v, lo_in=inclusive)

    @classmethod
    def below(cls, v: Fraction, inclusive: bool = False) -> Interval:
        return cls(hi=v, hi_in=inclusive)

    @classmethod
    def point(cls, v: Fraction) -> Interval:
        return cls(v, v, True, True)

    def negated(self) -> Interval:
        """The interval of ``-x``: a margin seen from the other participant."""
        return Interval(
            lo=-self.hi if self.hi is not None else None,
            hi=-self.lo if self.lo is not None else None,
            lo_in=self.hi_in, hi_in=self.lo_in,
        )

    def _lo_key(self) -> tuple[int, Fraction, int]:
        if self.lo is None:
            return (0, Fraction(0), 0)
        return (1, self.lo, 0 if self.lo_in else 1)

    def _hi_key(self) -> tuple[int, Fraction, int]:
        if self.hi is None:
            return (1, Fraction(0), 0)
        return (0, self.hi, 1 if self.hi_in else 0)

    def contains(self, other: Interval) -> bool:
        """``other`` ⊆ ``self``."""
        return self._lo_key() <= other._lo_key() and other._hi_key() <= self._hi_key()

    def disjoint(self, other: Interval) -> bool:
        def before(a: Interval, b: Interval) -> bool:  # a entirely below b
            if a.hi is None or b.lo is None:
                return False
            return a.hi < b.lo or (a.hi == b.lo and not (a.hi_in and b.lo_in))
        return before(self, other) or before(other, self)

    def describe(self, unit: str = "") -> str:
        u = f" {unit}" if unit else ""
        if self.lo is not None and self.hi is not None:
            if self.lo == self.hi:
                return f"= {_fmt(self.lo)}{u}"
            return (f"{'[' if self.lo_in else '('}{_fmt(self.lo)}, {_fmt(self.hi)}"
                    f"{']' if self.hi_in else ')'}{u}")
        if self.lo is not None:
            return f"{'≥' if self.lo_in else '>'} {_fmt(self.lo)}{u}"
        if self.hi is not None:
            return f"{'≤' if self.hi_in else '<'} {_fmt(self.hi)}{u}"
        return "any"


def _fmt(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    return format(float(v), "g")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A threshold read from wording: the true-set of the proposition on one unit."""

    interval: Interval
    unit: str  # "bps" | "%" | "$" | "pts" | ""
    text: str  # the words it was read from, for the review screen


def _value(text: str) -> tuple[Fraction, str] | None:
    m = _PARTS.search(text)
    if m is None:
        return None
    sign, dollar, digits, scale, unit = m.groups()
    value = Fraction(digits.replace(",", ""))
    if scale:
        value *= _SCALE[scale.lower()]
    if sign == "-":
        value = -value
    unit_name = _UNITS.get(re.sub(r"\s+", "", unit.lower()), "") if unit else (
        "$" if dollar else "")
    return value, unit_name


def strip_dates(text: str) -> str:
    """``text`` with calendar dates, years and clock times blanked out."""
    text = _TIME.sub(" ", _DATE.sub(" ", text))

    def year(m: re.Match[str]) -> str:
        return m.group(0) if _AMOUNT_BEFORE.search(text[: m.start()]) else " "
    return _YEAR.sub(year, text)


def parse_quantities(text: str) -> list[Quantity]:
    """Every threshold in ``text``, in order; dates and years are never thresholds."""
    clean = strip_dates(text)
    out: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    for m in _RANGE.finditer(clean):
        a, b = _value(m.group(1)), _value(m.group(2))
        if a is None or b is None:
            continue
        unit = a[1] or b[1]
        if a[1] and b[1] and a[1] != b[1]:
            continue
        lo, hi = sorted((a[0], b[0]))
        # "250,000-500,000" style buckets: lower end in, upper end out unless told otherwise
        out.append(Quantity(Interval(lo, hi, True, False), unit, m.group(0).strip()))
        taken.append(m.span())
    for m in _ONE.finditer(clean):
        if any(s <= m.start() < e for s, e in taken):
            continue
        parsed = _value(m.group(0))
        if parsed is None:
            continue
        value, unit = parsed
        before, after = clean[: m.start()], clean[m.end():]
        if "+" in m.group(0).lstrip("+") or _OR_MORE_AFTER.match(after):
            interval = Interval.above(value, inclusive=True)
        elif _OR_LESS_AFTER.match(after):
            interval = Interval.below(value, inclusive=True)
        elif _ABOVE.search(before):
            interval = Interval.above(value, inclusive=bool(_INCLUSIVE_BEFORE.search(before)))
        elif _BELOW.search(before):
            interval = Interval.below(value, inclusive=bool(_INCLUSIVE_BELOW.search(before)))
        else:
            interval = Interval.point(value)
        out.append(Quantity(interval, unit, m.group(0).strip()))
    return out
