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
Polymarket (CLOB V2, docs ``/trading/fees``): the taker pays ``C x rate x (p (1 - p))^e`` pUSD per
match on top of the notional, floored to $0.00001; ``rate`` and ``e`` are per market
(``/clob-markets/{condition_id}`` ``fd.r``, ``fd.e``). Detection rounds each level up instead, so its
estimate is never below the charge (see :class:`PolymarketFeeModel`, ADR 0036).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from math import gcd
from typing import Final, Protocol

from arbiter.core.units import CENT, MONEY_SCALE, PRICE_SCALE, SIZE_SCALE, Money, UnitError

__all__ = [
    "KALSHI_DEFAULT_FEES",
    "POLYMARKET_FEE_QUANTUM",
    "FeeModel",
    "KalshiFeeError",
    "KalshiFeeModel",
    "KalshiFeeType",
    "KalshiFillFees",
    "KalshiSeriesFees",
    "NoFees",
    "PolymarketFeeModel",
    "fraction_text",
    "kalshi_maker",
    "kalshi_taker",
    "parse_fee_type",
    "unit_cost_monotone",
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


def fraction_text(value: Fraction) -> str:
    """Shortest exact decimal string of a terminating fraction; raises for 1/3 and the like."""
    num, den = value.numerator, value.denominator
    places = 0
    while (10**places) % den and places < 30:
        places += 1
    scale = 10**places
    if scale % den:
        raise UnitError(f"{value} has no finite decimal form")
    digits = abs(num) * (scale // den)
    whole, frac = divmod(digits, scale)
    sign = "-" if num < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}." + f"{frac:0{places}d}".rstrip("0")
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
    #: the rate's numerator and denominator, folded once: the fee and the sizing bound run on
    #: every walked level, and a Fraction product there cost more than the rest of detection
    _num: int = field(init=False, repr=False, compare=False)
    _den: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rate = self.multiplier * self.coefficient
        object.__setattr__(self, "_num", rate.numerator)
        object.__setattr__(self, "_den", rate.denominator)

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
        # Money = rate x q x MONEY_SCALE / (PRICE_SCALE^2 x SIZE_SCALE) = rate x q / 10_000
        den = self._den * PRICE_SCALE * PRICE_SCALE * SIZE_SCALE // MONEY_SCALE
        return Money(-(-(self._num * q) // (den * _CENTICENT)) * _CENTICENT)

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
        return (self._num * price * (PRICE_SCALE - price)) // (self._den * PRICE_SCALE)


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


#: Polymarket's fee precision: every match's fee is floored to $0.00001 (docs /trading/fees;
#: NautilusTrader ``compute_commission``: "floored to 5 decimal places, matching the venue charge").
POLYMARKET_FEE_QUANTUM: Final = Money(MONEY_SCALE // 100_000)
#: Exponents the model accepts. The venue publishes ``fd.e`` as a number (docs example ``2``; the
#: SDKs read it as a Decimal); only whole exponents have an exact integer form, so anything else
#: is refused upstream as an unknown fee rather than approximated.
POLYMARKET_MAX_EXPONENT: Final = 4


@dataclass(frozen=True, slots=True)
class PolymarketFeeModel:
    """Polymarket platform taker fee: ``C x rate x (p (1 - p))^e`` per match, in pUSD.

    Sources: docs.polymarket.com ``/trading/fees`` (formula, taker-only, category rates) and
    ``/api-reference/markets/get-clob-market-info`` (``fd.r``, ``fd.e`` per market);
    ``polymarket-client`` 0.14.0 ``_internal/actions/orders/market.py::adjust_buy_amount_for_fees``
    and ``py-clob-client-v2`` 1.2.1 ``fees.py`` (a BUY pays ``shares x rate x (p(1-p))^e`` in
    collateral *on top of* the notional); a live V2 taker BUY (py-clob-client-v2 issue #107:
    25 shares @ 0.13, ``fd.r`` 0.05 -> full 25 shares received, balance down 3.25 + 0.14).

    Two roundings, one formula:

    * :meth:`match_fee` is what the venue charges for one match, floored to $0.00001. The local
      venue and the backtest's simulated exchange charge exactly this.
    * :meth:`level_term` (detection, sizing, risk reservation) rounds each price level *up* to
      $0.00001. A level may be several matches (one per resting maker order), and a sum of floors
      never exceeds the ceiling of the sum, so the estimate is never below what the venue takes,
      whichever way a source reads its rounding (ADR 0036).

    A SELL is charged the same pUSD amount (the formula is symmetric in the token's price and the
    docs state no separate sell form); the model does not depend on the side.
    """

    rate: Fraction
    exponent: int = 1
    _num: int = field(init=False, repr=False, compare=False)
    _den: int = field(init=False, repr=False, compare=False)
    _num_q: int = field(init=False, repr=False, compare=False)
    _den_q: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Fraction):
            raise UnitError(f"fee rate must be an exact Fraction, got {self.rate!r}")
        if not 0 <= self.rate <= 1:
            raise UnitError(f"fee rate {self.rate} is outside [0, 1]")
        e = self.exponent
        if isinstance(e, bool) or not isinstance(e, int) or not 0 <= e <= POLYMARKET_MAX_EXPONENT:
            raise UnitError(
                f"fee exponent must be an integer 0..{POLYMARKET_MAX_EXPONENT}, got {e!r}"
            )
        # money units = size x rate x (p (S - p))^e x S / S^(2e): fold every constant once, in
        # lowest terms (an exact rescaling: floors and ceilings are unchanged), so the hot
        # products stay small ints (~2 digits, not bignums) - 3-4x faster per level
        num, den = self.rate.numerator * PRICE_SCALE, self.rate.denominator * PRICE_SCALE ** (2 * e)
        g = gcd(num, den) or 1
        object.__setattr__(self, "_num", num // g)
        object.__setattr__(self, "_den", den // g)
        den_q = den * POLYMARKET_FEE_QUANTUM
        g = gcd(num, den_q) or 1
        object.__setattr__(self, "_num_q", num // g)
        object.__setattr__(self, "_den_q", den_q // g)

    @classmethod
    def of(cls, rate: str | Decimal | Fraction | int, exponent: int = 1) -> PolymarketFeeModel:
        """From the wire's decimal rate ("0.04") and integer exponent."""
        return cls(_ratio(rate), exponent)

    @property
    def free(self) -> bool:
        return self.rate == 0

    @property
    def rate_text(self) -> str:
        """The rate as the shortest exact decimal string ("0.04"), as a pairs file states it."""
        return fraction_text(self.rate)

    def exact(self, price: int, size: int) -> Fraction:
        """Unrounded fee of ``size`` at ``price`` in money units (for tests and reports)."""
        return Fraction(self._num * self._curve(price) * size, self._den)

    def _curve(self, price: int) -> int:
        q = price * (PRICE_SCALE - price)
        return q if self.exponent == 1 else int(q**self.exponent)

    def match_fee(self, price: int, size: int) -> Money:
        """What the venue charges the taker for one match: floored to $0.00001."""
        return Money(self._num_q * self._curve(price) * size // self._den_q * POLYMARKET_FEE_QUANTUM)

    def maker_rebate(self, price: int, size: int, share: Fraction) -> Money:
        """Backtest-only estimate of a maker fill's rebate: ``share`` of the fee it let a taker pay.

        The venue pays rebates daily from a pool (docs ``/market-makers/maker-rebates``), never
        per fill; live code never counts on it. Floored so the estimate never flatters a backtest.
        """
        return Money(int(self.match_fee(price, size) * share))

    def taker_fee_bound(self, filled: int, limit: int, avg: int | None, *, buy: bool) -> Money:
        """Most the venue can have charged a taker for ``filled`` shares of one order.

        Order answers carry no fee and no per-match breakdown, only the limit and (on a create)
        the average price. With exponent 1 the curve ``p(1-p)`` is concave, so the fee at the
        size-weighted average price bounds the sum over the matches (Jensen); the average is
        known to a price unit, so both neighbours are tried. Otherwise the curve's maximum over
        the prices the order could have matched at (a BUY at or below its limit, a SELL at or
        above) bounds it. Each is rounded up to $0.00001, so the bound is never below the charge.
        """
        if not filled:
            return Money(0)
        half = PRICE_SCALE // 2
        if self.exponent == 1 and avg is not None:
            candidates = [p for p in (avg, avg + 1) if 0 < p < PRICE_SCALE]
        else:
            candidates = [min(limit, half) if buy else max(limit, half)]
        return Money(max(self.level_term(p, filled) for p in candidates))

    def level_term(self, price: int, size: int) -> int:
        # hot: every walked level of every sizing search; the linear curve skips the power
        q = price * (PRICE_SCALE - price)
        if self.exponent != 1:
            q = int(q**self.exponent)
        return -(-(self._num_q * q * size) // self._den_q) * POLYMARKET_FEE_QUANTUM

    def fee_from_terms(self, terms: int) -> Money:
        return Money(terms)

    def order_fee(self, fills: Iterable[tuple[int, int]]) -> Money:
        return Money(sum(self.level_term(p, s) for p, s in fills))

    def smooth_rate(self, price: int) -> Fraction:
        return Fraction(self._num * self._curve(price), self._den)

    def rate_floor(self, price: int) -> int:
        return self._num * self._curve(price) // self._den


@dataclass(frozen=True, slots=True)
class NoFees:
    """Fills that charge nothing (makers on both venues, most Kalshi series' maker side)."""

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


def unit_cost_monotone(model: FeeModel) -> bool:
    """True when ``price + rate_floor(price)`` never falls as the price rises, for ``model``.

    Then the best level's ``price + rate_floor`` bounds every deeper level's from below, and a
    route whose best asks plus those bounds already reach the limit cannot be profitable at any
    size: detection skips the sizing search (ADR 0174). Both venues' curves qualify while the
    rate is at most 1: ``p + r·p(1-p)`` has slope ``1 + r(1-2p) >= 1 - r``, and Polymarket's
    ``r·(p(1-p))^e`` falls no faster than ``r·e·4^(1-e) <= r`` per unit of price; the floor of a
    non-decreasing function of an integer price stays non-decreasing. Any other model: False
    (the search decides).
    """
    if isinstance(model, NoFees):
        return True
    if isinstance(model, KalshiFeeModel):
        return model._num <= model._den
    if isinstance(model, PolymarketFeeModel):
        return model.rate <= 1
    return False
