"""Exact, fee-aware sizing: how many contracts of a two-leg buy maximise profit.

Buying ``C`` contracts of an outcome on one book and ``C`` of its complement on another pays
exactly ``C`` dollars at settlement. Profit is that payout minus both legs' cost (walked level by
level) and both legs' fees, which venues round per order. The objective maximised is
``profit(C) - hurdle x C``: every marginal contract must earn at least the minimum edge, which is
how a trader states "not worth it below a cent a contract" without letting one great first
contract drag thousands of marginal ones along.

Rounded fees make the objective non-concave, so a greedy "stop when the next level loses" can be
off by a cent. The search is nonetheless exact: with fees replaced by their unrounded rates
(``smooth_rate``, floored to integers so the bound needs no Fraction arithmetic) the objective
becomes an upper bound that is linear inside each merged depth segment, and a size is evaluated
exactly only while that bound can still beat the best found. A brute-force recomputation over
every size is the reference in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from arbiter.core.fees import FeeModel
from arbiter.core.units import PRICE_SCALE, Money

__all__ = ["SizeChoice", "brute_force_size", "leg_fills", "optimise_size"]


@dataclass(frozen=True, slots=True)
class SizeChoice:
    size: int
    objective: Money
    profit: Money
    cost_a: Money
    cost_b: Money
    fee_a: Money
    fee_b: Money
    limit_a: int
    limit_b: int


class _Leg:
    """Walk state of one leg: completed levels plus the level currently being eaten."""

    __slots__ = ("cost", "fee", "levels", "price", "rate", "remaining", "taken", "terms", "total")

    def __init__(self, levels: Iterable[tuple[int, int]], fee: FeeModel) -> None:
        self.levels: Iterator[tuple[int, int]] = iter(levels)
        self.fee = fee
        self.cost = 0  # money of everything taken before the current segment
        self.terms = 0  # fee accumulator of completed levels
        self.price = 0
        self.remaining = 0  # size left in the current level
        self.taken = 0  # size already taken from the current level
        self.total = 0  # smooth fee (floored rates) of everything taken before the segment
        self.rate = 0

    def advance(self) -> bool:
        """Close the current level and open the next one; False when the book is exhausted."""
        if self.taken:
            self.terms += self.fee.level_term(self.price, self.taken)
        for price, size in self.levels:
            if size > 0:
                self.price, self.remaining, self.taken = price, size, 0
                # floored: a lower bound on the fee keeps the objective bound an upper bound,
                # and integer arithmetic keeps the search ~5x cheaper than Fractions
                self.rate = self.fee.rate_floor(price)
                return True
        return False

    def consume(self, amount: int) -> None:
        self.cost += self.price * amount
        self.total += self.rate * amount
        self.taken += amount
        self.remaining -= amount

    def fee_at(self, extra: int) -> int:
        return self.fee.fee_from_terms(self.terms + self.fee.level_term(self.price, self.taken + extra))


def optimise_size(
    asks_a: Iterable[tuple[int, int]],
    asks_b: Iterable[tuple[int, int]],
    fee_a: FeeModel,
    fee_b: FeeModel,
    *,
    hurdle: int = 0,
    lot: int,
    min_size: int = 0,
    max_size: int | None = None,
    budget: int | None = None,
) -> SizeChoice | None:
    """Best size (a multiple of ``lot``) for buying both ask ladders, or None if none beats 0.

    ``asks_*`` are (price, size) best first. Ties go to the smaller size (less risk for the same
    money). ``budget`` bounds cost plus fees; ``max_size`` and ``min_size`` bound the size.
    """
    a, b = _Leg(asks_a, fee_a), _Leg(asks_b, fee_b)
    if not (a.advance() and b.advance()):
        return None
    cap = None if max_size is None else max_size - max_size % lot
    first = max(lot, -(-min_size // lot) * lot)
    if cap is not None and cap < first:
        return None
    best: SizeChoice | None = None
    best_j = 0
    c0 = 0

    def exact(c: int, start: int) -> tuple[int, int, int, int, int]:
        """(objective, cost a, cost b, fee a, fee b) of size ``c``: a plain tuple, because most
        sizes evaluated are not the best (a :class:`SizeChoice` is built for those that are)."""
        x = c - start
        cost_a, cost_b = a.cost + a.price * x, b.cost + b.price * x
        f_a, f_b = a.fee_at(x), b.fee_at(x)
        profit = c * PRICE_SCALE - cost_a - cost_b - f_a - f_b
        return profit - hurdle * c, cost_a, cost_b, f_a, f_b

    while True:
        span = min(a.remaining, b.remaining)
        c1 = c0 + span
        pa, pb = a.price, b.price
        gross = PRICE_SCALE - pa - pb - hurdle
        slope = gross - a.rate - b.rate
        js0 = c0 * (PRICE_SCALE - hurdle) - a.cost - b.cost - a.total - b.total
        lo = max(first, (c0 // lot + 1) * lot)
        hi = c1 - c1 % lot
        last_segment = False
        if cap is not None and hi >= cap:
            hi, last_segment = cap, True
        if lo <= hi and max(js0 + (lo - c0) * slope, js0 + (hi - c0) * slope) >= best_j:

            if budget is not None:
                _, t_ca, t_cb, t_fa, t_fb = exact(hi, c0)
                if t_ca + t_cb + t_fa + t_fb > budget:
                    last_segment = True
                    ok, bad = lo - lot, hi
                    while bad - ok > lot:  # spend is monotone in size: bisect on lot multiples
                        mid = ok + ((bad - ok) // lot // 2) * lot
                        _, s_ca, s_cb, s_fa, s_fb = exact(mid, c0)
                        if s_ca + s_cb + s_fa + s_fb <= budget:
                            ok = mid
                        else:
                            bad = mid
                    hi = ok
            order = range(hi, lo - 1, -lot) if slope > 0 else range(lo, hi + 1, lot)
            for c in order:
                if js0 + (c - c0) * slope < best_j:
                    break
                objective, cost_a, cost_b, f_a, f_b = exact(c, c0)
                if objective > 0 and (
                    best is None
                    or objective > best.objective
                    or (objective == best.objective and c < best.size)
                ):
                    best = SizeChoice(
                        c, Money(objective), Money(objective + hurdle * c), Money(cost_a),
                        Money(cost_b), Money(f_a), Money(f_b), a.price, b.price,
                    )
                    best_j = objective
        if last_segment:
            break
        if gross <= 0 and js0 + span * slope < best_j:
            break  # every later level is no cheaper, so the upper bound only falls from here
        a.consume(span)
        b.consume(span)
        c0 = c1
        if (a.remaining == 0 and not a.advance()) or (b.remaining == 0 and not b.advance()):
            break
    return best


def leg_fills(levels: Iterable[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The (price, size) pieces a buy of ``size`` takes from an ask ladder, best first."""
    out: list[tuple[int, int]] = []
    left = size
    for price, available in levels:
        if left <= 0:
            break
        take = min(left, available)
        if take > 0:
            out.append((price, take))
            left -= take
    if left > 0:
        raise ValueError(f"ladder holds less than {size}")
    return out


def brute_force_size(
    asks_a: list[tuple[int, int]],
    asks_b: list[tuple[int, int]],
    fee_a: FeeModel,
    fee_b: FeeModel,
    *,
    hurdle: int = 0,
    lot: int,
    min_size: int = 0,
    max_size: int | None = None,
    budget: int | None = None,
) -> SizeChoice | None:
    """Reference implementation: evaluate every size. Slow; for tests and audits only."""
    depth = min(sum(s for _, s in asks_a), sum(s for _, s in asks_b))
    if max_size is not None:
        depth = min(depth, max_size)
    best: SizeChoice | None = None
    c = lot
    while c <= depth:
        if c >= min_size:
            fa, fb = leg_fills(asks_a, c), leg_fills(asks_b, c)
            cost_a = sum(p * s for p, s in fa)
            cost_b = sum(p * s for p, s in fb)
            f_a, f_b = fee_a.order_fee(fa), fee_b.order_fee(fb)
            if budget is not None and cost_a + cost_b + f_a + f_b > budget:
                break
            profit = c * PRICE_SCALE - cost_a - cost_b - f_a - f_b
            objective = profit - hurdle * c
            if objective > 0 and (best is None or objective > best.objective):
                best = SizeChoice(
                    c, Money(objective), Money(profit), Money(cost_a), Money(cost_b),
                    Money(f_a), Money(f_b), fa[-1][0], fb[-1][0],
                )
        c += lot
    return best
