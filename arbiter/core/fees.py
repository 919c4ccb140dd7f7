"""Venue fee models: exact integer arithmetic, rounded the way each venue rounds.

One interface serves detection, paper trading, backtests and PnL. A model turns the fills of one
*order* into a fee in ``Money``. Detection walks depth incrementally, so a model also exposes the
same computation in accumulator form (``level_term`` summed per level, then ``fee_from_terms``) and
an unrounded lower bound per unit of size (``smooth_rate``) that lets the search prune sizes which
cannot win.

Kalshi (per series, ``GET /series/{ticker}``): ``fee = multiplier x 0.07 x sum(C x P x (1 - P))``
for takers (makers 0.25 or 0.5 of that where the series' fee type charges them), the trade fee
rounded up to $0.0001 and the order's balance change to the cent; the venue's per-order
accumulator makes the total what one fill of the whole order would cost
(docs ``/getting_started/fee_rounding``; :class:`KalshiFeeModel`).
Polymarket (§2.11): on a BUY the exchange takes ``rate x min(p, 1 - p) x tokens / p`` outcome
tokens. A token short on the hedged leg costs at worst $1 at settlement, so the fee's worst-case
dollar cost is that token count; it is rounded up to the token's 6-decimal base unit per level
(conservative: never below what the contract charges).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final, Protocol

from arbiter.core.units import CENT, MONEY_SCALE, PRICE_SCALE, SIZE_SCALE, Money, UnitError

__all__ = [
    "KALSHI_DEFAULT_FEES",
    "FeeModel",
    "KalshiFeeError",
    "KalshiFeeModel",
    "KalshiFeeType",
    "KalshiFillFees",
    "KalshiSeriesFees",
    "NoFees",
    "PolymarketFeeModel",
    "kalshi_maker",
    "kalshi_taker",
    "parse_fee_type",
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


class KalshiFeeType(StrEnum):
    """A series' ``fee_type`` (kalshi-python-sync 3.34.0 ``models/fee_type.py``, ``Series``).

    The SDK's field description maps each to the fee schedule
    (kalshi.com/docs/kalshi-fee-schedule.pdf): ``quadratic`` = the General Trading Fees Table
    (takers only), ``quadratic_with_maker_fees`` = the same plus the Maker Fees section (makers
    pay a 0.25 share of the taker coefficient), ``quadratic_with_combo_maker_fees`` = the same
    with a 0.5 share, ``flat`` = the Specific Trading Fees Table.
    """

    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"


class KalshiFeeError(ValueError):
    """A Kalshi fee schedule we cannot price exactly: the pair or market must not be traded."""


#: General Trading Fees Table: ``round up(0.07 x C x P x (1 - P))``
TAKER_COEFFICIENT: Final = Fraction(7, 100)
#: maker share of the taker coefficient per fee type (0.25 -> the schedule's 0.0175)
MAKER_SHARE: Final = {
    KalshiFeeType.QUADRATIC: Fraction(0),
    KalshiFeeType.QUADRATIC_WITH_MAKER_FEES: Fraction(1, 4),
    KalshiFeeType.QUADRATIC_WITH_COMBO_MAKER_FEES: Fraction(1, 2),
}
#: a trade fee is rounded up to $0.0001 (docs /getting_started/fee_rounding)
_CENTICENT: Final = MONEY_SCALE // 10_000
#: level terms carry the fee term above this bit and the notional below it (both only add up)
_PACK_BITS: Final = 160
_PACK_MASK: Final = (1 << _PACK_BITS) - 1


def parse_fee_type(value: object, where: str = "fee_type") -> KalshiFeeType:
    """The venue's fee type; anything else is a :class:`KalshiFeeError` (fail closed)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return KalshiFeeType(value)
    known = ", ".join(t.value for t in KalshiFeeType)
    raise KalshiFeeError(f"{where}: unknown Kalshi fee type {value!r} (known: {known})")


@dataclass(frozen=True, slots=True)
class KalshiFeeModel:
    """One role's Kalshi fee on one series: ``multiplier x coefficient x C x P x (1 - P)``.

    ``multiplier`` is the series' ``fee_multiplier`` as the venue means it ("a floating point
    multiplier applied to the fee calculations", SDK ``Series``): 1 charges the schedule as
    printed. ``coefficient`` is the schedule's rate for the role: 0.07 for takers, 0.25 or 0.5
    of that for makers (:data:`MAKER_SHARE`).

    Rounding (docs ``/getting_started/fee_rounding``): the trade fee is rounded up to $0.0001,
    the balance change ``revenue - trade_fee`` is floored to the member's precision ($0.01 for
    non-direct members, which API users are) and the per-order accumulator rebates whole cents
    of rounding, so "the total fee converges to what a single equivalent fill would cost".
    For a buy of notional N that is ``ceil_to_cent(N + ceil_to_centicent(fee)) - N``: on cent
    prices with whole contracts exactly the old ``ceil_to_cent(fee)``, on sub-penny prices or
    fractional counts the sub-cent part of N is charged too (buy 3 at $0.055: $0.015, not $0.02).
    The engine only opens positions (buys) through this model; see :meth:`sell_fee`.
    """

    multiplier: Fraction = Fraction(1)
    coefficient: Fraction = TAKER_COEFFICIENT

    @classmethod
    def of(cls, multiplier: str | Decimal | Fraction | int) -> KalshiFeeModel:
        """A taker model from the series' ``fee_multiplier``."""
        return cls(_ratio(multiplier))

    @property
    def rate(self) -> Fraction:
        return self.multiplier * self.coefficient

    def level_term(self, price: int, size: int) -> int:
        # high bits: price^2 x size (dollars = q / (PRICE_SCALE^2 x SIZE_SCALE)); low bits: the
        # notional price x size, already in Money units (1e-4 $ x 1e-6 = 1e-10 $)
        return ((price * (PRICE_SCALE - price) * size) << _PACK_BITS) + price * size

    def trade_fee(self, terms: int) -> Money:
        """The fee model's fee for accumulated terms, rounded up to $0.0001 (no balance rounding)."""
        q = terms >> _PACK_BITS
        rate = self.rate
        # Money = rate x q x MONEY_SCALE / (PRICE_SCALE^2 x SIZE_SCALE) = rate x q / 10_000
        den = rate.denominator * PRICE_SCALE * PRICE_SCALE * SIZE_SCALE // MONEY_SCALE
        return Money(-(-(rate.numerator * q) // (den * _CENTICENT)) * _CENTICENT)

    def fee_from_terms(self, terms: int) -> Money:
        notional = terms & _PACK_MASK
        debit = notional + self.trade_fee(terms)
        return Money(-(-debit // CENT) * CENT - notional)

    def sell_fee(self, fills: Iterable[tuple[int, int]]) -> Money:
        """Net fee when the fills *raise* the balance (closing a holding): ``N - floor(N - fee)``."""
        terms = sum(self.level_term(p, s) for p, s in fills)
        notional = terms & _PACK_MASK
        credit = notional - self.trade_fee(terms)
        return Money(notional - (credit // CENT) * CENT)

    def order_fee(self, fills: Iterable[tuple[int, int]]) -> Money:
        return self.fee_from_terms(sum(self.level_term(p, s) for p, s in fills))

    def smooth_rate(self, price: int) -> Fraction:
        # the rounded fee is never below the unrounded one:
        # money per size unit = rate x P(1-P)/PRICE_SCALE^2 x MONEY_SCALE/SIZE_SCALE
        return self.rate * Fraction(price * (PRICE_SCALE - price), PRICE_SCALE)

    def rate_floor(self, price: int) -> int:
        m = self.rate
        return (m.numerator * price * (PRICE_SCALE - price)) // (m.denominator * PRICE_SCALE)


@dataclass(frozen=True, slots=True)
class KalshiSeriesFees:
    """A series' fee schedule (``GET /series/{ticker}``: ``fee_type``, ``fee_multiplier``)."""

    fee_type: KalshiFeeType
    multiplier: Fraction

    def __post_init__(self) -> None:
        if self.fee_type is KalshiFeeType.FLAT:
            raise KalshiFeeError(
                "Kalshi fee type 'flat' (the fee schedule's Specific Trading Fees Table) is not "
                "modelled: no primary source available here states its formula, so a market on "
                "such a series is not traded"
            )
        if self.multiplier < 0:
            raise KalshiFeeError(f"Kalshi fee_multiplier {self.multiplier} is negative")

    @classmethod
    def of(cls, fee_type: object, multiplier: str | Decimal | Fraction | int) -> KalshiSeriesFees:
        try:
            ratio = _ratio(multiplier)
        except UnitError as exc:
            raise KalshiFeeError(str(exc)) from None
        return cls(parse_fee_type(fee_type), ratio)

    @property
    def taker(self) -> KalshiFeeModel:
        return KalshiFeeModel(self.multiplier, TAKER_COEFFICIENT)

    @property
    def maker(self) -> KalshiFeeModel | NoFees:
        """Makers pay only on the series whose fee type says so (NoFees otherwise)."""
        share = MAKER_SHARE[self.fee_type]
        if not share:
            return NoFees()
        return KalshiFeeModel(self.multiplier, TAKER_COEFFICIENT * share)


@dataclass(slots=True)
class KalshiFillFees:
    """The venue's per-fill fee mechanics for one order (docs ``/getting_started/fee_rounding``).

    Each fill: trade fee = the model's fee rounded up to $0.0001; ``balance_change = revenue -
    trade_fee`` floored to ``precision`` ($0.01 for non-direct members); rounding fee = what the
    floor took. The accumulator (per order, across taker and maker fills) collects rounding fees
    and rebates whole cents once it reaches $0.01, so the order's total converges to one
    equivalent fill. A rebate is limited to whole cents of the fill's own fee so that the net fee
    stays >= $0 as the docs state (an interpretation: the page does not say which fill rebates).
    """

    precision: int = CENT
    accumulated: int = 0

    def fill(self, model: FeeModel, price: int, size: int, revenue: int) -> tuple[int, int, int]:
        """(trade fee, rounding fee, rebate) of one fill; the net fee is ``t + r - rebate``."""
        if isinstance(model, KalshiFeeModel):
            trade = int(model.trade_fee(model.level_term(price, size)))
        else:
            trade = int(model.order_fee([(price, size)]))
        change = revenue - trade
        rounding = change - (change // self.precision) * self.precision
        self.accumulated += rounding
        cents = min(self.accumulated // CENT, (trade + rounding) // CENT)
        rebate = max(0, cents) * CENT
        self.accumulated -= rebate
        return trade, rounding, rebate


#: the General Trading Fees Table as printed (what the pairs file meant before it named the type)
KALSHI_DEFAULT_FEES: Final = KalshiSeriesFees(KalshiFeeType.QUADRATIC, Fraction(1))


def kalshi_taker() -> KalshiFeeModel:
    return KalshiFeeModel()


def kalshi_maker() -> KalshiFeeModel:
    """Maker fee on the series that charge makers (``quadratic_with_maker_fees``)."""
    return KalshiFeeModel(Fraction(1), TAKER_COEFFICIENT * MAKER_SHARE[
        KalshiFeeType.QUADRATIC_WITH_MAKER_FEES])


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
