"""Venue fee models: exact integer arithmetic, rounded the way each venue rounds.

One interface serves detection, paper trading, backtests and PnL. A model turns the fills of one
*order* into a fee in ``Money``. Detection walks depth incrementally, so a model also exposes the
same computation in accumulator form (``level_term`` summed per level, then ``fee_from_terms``) and
an unrounded lower bound per unit of size (``smooth_rate``) that lets the search prune sizes which
cannot win.

Kalshi (venues.md §1.11): ``fee = ceil_to_cent(multiplier x sum(C x P x (1 - P)))`` per order; the
venue's per-fill $0.0001 rounding plus its refunding accumulator converge to exactly this.
Polymarket (§2.11): on a BUY the exchange takes ``rate x min(p, 1 - p) x tokens / p`` outcome
tokens. A token short on the hedged leg costs at worst $1 at settlement, so the fee's worst-case
dollar cost is that token count; it is rounded up to the token's 6-decimal base unit per level
(conservative: never below what the contract charges).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from arbiter.core.units import CENT, MONEY_SCALE, PRICE_SCALE, SIZE_SCALE, Money, UnitError

__all__ = [
    "FeeModel",
    "KalshiFeeModel",
    "NoFees",
    "PolymarketFeeModel",
    "kalshi_maker",
    "kalshi_taker",
]


class FeeModel(Protocol):
    """Fee charged to the taker of one order that executes ``fills`` (price, size) levels."""

    def order_fee(self, fills: Iterable[tuple[int, int]]) -> Money: ...

    def level_term(self, price: int, size: int) -> int:
        """Additive contribution of one level to the order's fee accumulator."""
        ...

    def fee_from_terms(self, terms: int) -> Money:
        """Round an accumulated sum of ``level_term`` values into the fee the venue charges."""
        ...

    def smooth_rate(self, price: int) -> Fraction:
        """Unrounded fee per size unit at ``price``: a lower bound the search may rely on."""
        ...

    def rate_floor(self, price: int) -> int:
        """``floor(smooth_rate(price))`` in integer arithmetic: the sizing search's bound, which
        runs on every opportunity (a Fraction costs ~10 µs per level there)."""
        ...


def _ratio(value: str | Decimal | Fraction | int) -> Fraction:
    """Parse a fee multiplier exactly ("0.07" is 7/100, never 0.07000000000000000666)."""
    if isinstance(value, float):
        raise UnitError("fee multipliers must be given as decimal strings, not floats")
    result = Fraction(Decimal(value)) if isinstance(value, str) else Fraction(value)
    if result < 0:
        raise UnitError(f"fee multiplier {value!r} is negative")
    return result


@dataclass(frozen=True, slots=True)
class KalshiFeeModel:
    """Quadratic Kalshi fee: ``ceil_to_cent(multiplier x sum C P (1 - P))`` per order."""

    multiplier: Fraction = Fraction(7, 100)

    @classmethod
    def of(cls, multiplier: str | Decimal | Fraction | int) -> KalshiFeeModel:
        return cls(_ratio(multiplier))

    def level_term(self, price: int, size: int) -> int:
        # units: price^2 x size; dollars = term / (PRICE_SCALE^2 x SIZE_SCALE)
        return price * (PRICE_SCALE - price) * size

    def fee_from_terms(self, terms: int) -> Money:
        num, den = self.multiplier.numerator, self.multiplier.denominator
        # cents = ceil(multiplier x terms x 100 / (PRICE_SCALE^2 x SIZE_SCALE))
        cents = -(-(num * terms * 100) // (den * PRICE_SCALE * PRICE_SCALE * SIZE_SCALE))
        return Money(cents * CENT)

    def order_fee(self, fills: Iterable[tuple[int, int]]) -> Money:
        return self.fee_from_terms(sum(self.level_term(p, s) for p, s in fills))

    def smooth_rate(self, price: int) -> Fraction:
        # money per size unit = multiplier x P(1-P)/PRICE_SCALE^2 x MONEY_SCALE/SIZE_SCALE
        return self.multiplier * Fraction(price * (PRICE_SCALE - price), PRICE_SCALE)

    def rate_floor(self, price: int) -> int:
        m = self.multiplier
        return (m.numerator * price * (PRICE_SCALE - price)) // (m.denominator * PRICE_SCALE)


def kalshi_taker() -> KalshiFeeModel:
    return KalshiFeeModel(Fraction(7, 100))


def kalshi_maker() -> KalshiFeeModel:
    """Maker fee on the series that charge makers (most do not: use :class:`NoFees`)."""
    return KalshiFeeModel(Fraction(175, 10_000))


@dataclass(frozen=True, slots=True)
class PolymarketFeeModel:
    """Polymarket BUY fee (taken in outcome tokens), valued at its worst-case $1 per token."""

    rate_bps: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.rate_bps, bool) or not isinstance(self.rate_bps, int):
            raise UnitError(f"fee rate must be integer basis points, got {self.rate_bps!r}")
        if not 0 <= self.rate_bps <= 10_000:
            raise UnitError(f"fee rate {self.rate_bps} bps is outside 0..10000")

    def fee_tokens(self, price: int, size: int) -> int:
        """Outcome-token fee (Size units) for buying ``size`` at ``price``, rounded up."""
        if not self.rate_bps or not size:
            return 0
        edge = min(price, PRICE_SCALE - price)
        return -(-(self.rate_bps * edge * size) // (price * 10_000))

    def sell_fee(self, price: int, size: int) -> Money:
        """Collateral fee on a SELL: ``rate x min(p, 1 - p) x tokens``, rounded up to 1e-6 $."""
        if not self.rate_bps or not size:
            return Money(0)
        edge = min(price, PRICE_SCALE - price)
        exact = self.rate_bps * edge * size  # x 1/10_000 -> money units (price x size)
        micro = MONEY_SCALE // 1_000_000
        return Money(-(-exact // (10_000 * micro)) * micro)

    def level_term(self, price: int, size: int) -> int:
        return self.fee_tokens(price, size) * PRICE_SCALE  # a token is worth $1 = PRICE_SCALE/size

    def fee_from_terms(self, terms: int) -> Money:
        return Money(terms)

    def order_fee(self, fills: Iterable[tuple[int, int]]) -> Money:
        return Money(sum(self.level_term(p, s) for p, s in fills))

    def smooth_rate(self, price: int) -> Fraction:
        if not self.rate_bps:
            return Fraction(0)
        edge = min(price, PRICE_SCALE - price)
        return Fraction(self.rate_bps * edge * PRICE_SCALE, price * 10_000)

    def rate_floor(self, price: int) -> int:
        return (self.rate_bps * min(price, PRICE_SCALE - price) * PRICE_SCALE) // (price * 10_000)


@dataclass(frozen=True, slots=True)
class NoFees:
    """Venues or series that charge nothing (most Polymarket markets, most Kalshi makers)."""

    def level_term(self, price: int, size: int) -> int:
        return 0

    def fee_from_terms(self, terms: int) -> Money:
        return Money(0)

    def order_fee(self, fills: Iterable[tuple[int, int]]) -> Money:
        return Money(0)

    def smooth_rate(self, price: int) -> Fraction:
        return Fraction(0)

    def rate_floor(self, price: int) -> int:
        return 0
