"""Venue fee models: exact integer arithmetic, rounded the way each venue rounds.

One interface serves detection, paper trading, backtests and PnL. A model turns the fills of one
*order* into a fee in ``Money``. Detection walks depth incrementally, so a model also exposes the
same computation in accumulator form (``level_term`` summed per level, then ``fee_from_terms``) and
an unrounded lower bound per unit of size (``smooth_rate``) that lets the search prune sizes which
cannot win.

Kalshi (venues.md §1.11): ``fee = ceil_to_cent(multiplier x sum(C x P x (1 - P)))`` per order; the
venue's per-fill $0.0001 rounding plus its refunding accumulator converge to exactly this.
Polymarket (CLOB V2, docs ``/trading/fees``): the taker pays ``C x rate x (p (1 - p))^e`` pUSD per
match on top of the notional, floored to $0.00001; ``rate`` and ``e`` are per market
(``/clob-markets/{condition_id}`` ``fd.r``, ``fd.e``). Detection rounds each level up instead, so its
estimate is never below the charge (see :class:`PolymarketFeeModel`, ADR 0036).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import gcd
from typing import Final, Protocol

from arbiter.core.units import CENT, MONEY_SCALE, PRICE_SCALE, SIZE_SCALE, Money, UnitError

__all__ = [
    "POLYMARKET_FEE_QUANTUM",
    "FeeModel",
    "KalshiFeeModel",
    "NoFees",
    "PolymarketFeeModel",
    "fraction_text",
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
