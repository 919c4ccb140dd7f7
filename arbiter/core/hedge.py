"""Hedge calculator: what to do with contracts of one leg that the other leg did not match.

When leg 2 fills less than leg 1, the saga holds ``residual`` contracts of leg 1's outcome with no
complement: a naked directional bet. There are two ways out, and the calculator prices both with
the fees of the venue that would trade:

* **complete**: buy the missing complement on leg 2's market at a price up to the planned leg-2
  limit plus a configured slippage; the pair then pays exactly $1 per contract at settlement;
* **unwind**: sell the residual back on leg 1's market at a price down to its average cost minus
  a configured slippage.

Each option's expected PnL is computed for the residual contracts including what they already
cost (their share of leg 1's cost and fees), so the two numbers are directly comparable and the
journal can show *why* one was chosen. Without a market view the limit prices themselves are the
expected prices (a worst case); with one, the current best ask/bid is used and an option whose
book is outside the limit is marked unlikely to fill. Slippage grows with each attempt
(``attempt / max_attempts`` of the maximum), so a retry reaches further than the first try but
never beyond the configured bound.

A completion that failed (its IOC left size unfilled: the ask was above its limit) is never
retried blind: the next attempt completes again only if a known book shows an ask within the
new limit; otherwise it unwinds, within the unwind bound (docs/adr/0170). Without this a saga
deciding on limits alone (no book yet, as after a restart) spent every attempt on completions
one tick further out, all cancelled, and ended ``failed`` without ever trying to unwind.

Pure: no clock, no I/O; all amounts exact integers (``Price``/``Size``/``Money``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from arbiter.core.fees import FeeModel
from arbiter.core.price_grid import PriceGrid
from arbiter.core.units import PRICE_SCALE, Money, Price, Size

__all__ = [
    "HedgeChoice",
    "HedgeConfig",
    "HedgeDecision",
    "HedgeInput",
    "HedgeOption",
    "HedgeVenue",
    "MarketView",
    "decide_hedge",
]


class HedgeChoice(StrEnum):
    COMPLETE = "complete"
    UNWIND = "unwind"
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class HedgeConfig:
    """Slippage bounds (price units, $0.0001) and the number of hedge orders a saga may try."""

    max_slippage: int = 300
    max_unwind_slippage: int = 1000
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if self.max_slippage < 0 or self.max_unwind_slippage < 0 or self.max_attempts < 1:
            raise ValueError("hedge slippage must be >= 0 and max_attempts >= 1")

    def to_dict(self) -> dict[str, int]:
        return {
            "max_slippage": self.max_slippage,
            "max_unwind_slippage": self.max_unwind_slippage,
            "max_attempts": self.max_attempts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HedgeConfig:
        return cls(int(data["max_slippage"]), int(data["max_unwind_slippage"]), int(data["max_attempts"]))


@dataclass(frozen=True, slots=True)
class HedgeVenue:
    """Order rules of the market a hedge order would go to."""

    tick: int
    lot: int
    min_size: int
    fee: FeeModel
    #: the market's price grid where it is not one uniform tick (Kalshi tapered deci-cent)
    grid: PriceGrid | None = None

    def floor_price(self, price: int) -> int:
        """The highest legal price <= ``price``, never below the lowest legal one."""
        if self.grid is None:
            return max(min(_floor_to(price, self.tick), PRICE_SCALE - self.tick), self.tick)
        return self.grid.floor(max(price, self.grid.lowest)) or self.grid.lowest

    def ceil_price(self, price: int) -> int:
        """The lowest legal price >= ``price``, never above the highest legal one."""
        if self.grid is None:
            return min(max(_ceil_to(price, self.tick), self.tick), PRICE_SCALE - self.tick)
        return self.grid.ceil(min(price, self.grid.highest)) or self.grid.highest


@dataclass(frozen=True, slots=True)
class MarketView:
    """Optional quotes at decision time: best ask to complete on, best bid to unwind into."""

    complete_ask: Price | None = None
    unwind_bid: Price | None = None


@dataclass(frozen=True, slots=True)
class HedgeInput:
    """The unmatched position and the planned leg-2 price it was meant to pair with."""

    residual: Size
    #: cost and fees already paid for the residual contracts (their share of leg 1)
    held_cost: Money
    held_fees: Money
    complete_limit: Price
    attempt: int
    #: completion orders of this saga that left part of their size unfilled (ADR 0170)
    failed_completes: int = 0


@dataclass(frozen=True, slots=True)
class HedgeOption:
    action: str
    feasible: bool
    #: the IOC limit price the order would carry
    limit: int
    #: the price the PnL is computed at (best quote if known and inside the limit, else the limit)
    expected_price: int
    size: int
    fee: Money
    #: PnL of the residual contracts if this option fills completely (fees included)
    expected_pnl: Money
    likely: bool
    note: str

    @property
    def expected_loss(self) -> Money:
        return Money(-self.expected_pnl)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "feasible": self.feasible,
            "limit": self.limit,
            "expected_price": self.expected_price,
            "size": self.size,
            "fee": self.fee,
            "expected_pnl": self.expected_pnl,
            "likely": self.likely,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HedgeOption:
        return cls(
            str(d["action"]), bool(d["feasible"]), int(d["limit"]), int(d["expected_price"]),
            int(d["size"]), Money(int(d["fee"])), Money(int(d["expected_pnl"])), bool(d["likely"]),
            str(d["note"]),
        )


@dataclass(frozen=True, slots=True)
class HedgeDecision:
    """What was chosen and the numbers behind it; journaled verbatim."""

    attempt: int
    residual: int
    choice: HedgeChoice
    complete: HedgeOption
    unwind: HedgeOption
    reason: str

    @property
    def chosen(self) -> HedgeOption | None:
        if self.choice is HedgeChoice.COMPLETE:
            return self.complete
        if self.choice is HedgeChoice.UNWIND:
            return self.unwind
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "residual": self.residual,
            "choice": self.choice.value,
            "complete": self.complete.to_dict(),
            "unwind": self.unwind.to_dict(),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HedgeDecision:
        return cls(
            int(d["attempt"]), int(d["residual"]), HedgeChoice(d["choice"]),
            HedgeOption.from_dict(d["complete"]), HedgeOption.from_dict(d["unwind"]), str(d["reason"]),
        )


def _floor_to(value: int, step: int) -> int:
    return (value // step) * step


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


def _scaled(bound: int, attempt: int, attempts: int) -> int:
    """Slippage allowed on ``attempt``: a growing share of the bound, the full bound at the end."""
    attempt = min(max(attempt, 1), attempts)
    return bound * attempt // attempts


def _complete_option(
    inp: HedgeInput, venue: HedgeVenue, cfg: HedgeConfig, view: MarketView
) -> HedgeOption:
    size = _floor_to(inp.residual, venue.lot)
    limit = venue.floor_price(
        inp.complete_limit + _scaled(cfg.max_slippage, inp.attempt, cfg.max_attempts))
    ask = view.complete_ask
    likely = ask is None or ask <= limit
    expected = ask if ask is not None and ask <= limit else limit
    fee = venue.fee.order_fee([(expected, size)]) if size else Money(0)
    pnl = Money(size * PRICE_SCALE - inp.held_cost - inp.held_fees - expected * size - fee)
    feasible = size > 0 and size >= venue.min_size
    note = "ok" if feasible else f"size {size} below venue minimum {max(venue.min_size, 1)}"
    if feasible and not likely:
        note = f"best ask {ask} above limit {limit}"
    return HedgeOption("complete", feasible, limit, expected, size, fee, pnl, likely, note)


def _unwind_option(
    inp: HedgeInput, venue: HedgeVenue, cfg: HedgeConfig, view: MarketView
) -> HedgeOption:
    size = _floor_to(inp.residual, venue.lot)
    average = inp.held_cost // inp.residual if inp.residual else 0
    floor = average - _scaled(cfg.max_unwind_slippage, inp.attempt, cfg.max_attempts)
    limit = venue.ceil_price(floor)
    bid = view.unwind_bid
    likely = bid is None or bid >= limit
    expected = bid if bid is not None and bid >= limit else limit
    fee = venue.fee.order_fee([(expected, size)]) if size else Money(0)
    pnl = Money(expected * size - inp.held_cost - inp.held_fees - fee)
    feasible = size > 0 and size >= venue.min_size
    note = "ok" if feasible else f"size {size} below venue minimum {max(venue.min_size, 1)}"
    if feasible and not likely:
        note = f"best bid {bid} below limit {limit}"
    return HedgeOption("unwind", feasible, limit, expected, size, fee, pnl, likely, note)


def decide_hedge(
    inp: HedgeInput,
    complete_venue: HedgeVenue,
    unwind_venue: HedgeVenue,
    cfg: HedgeConfig,
    view: MarketView | None = None,
) -> HedgeDecision:
    """Choose the option with the smaller expected loss among those that can be sent.

    Preference order: feasible before infeasible, likely-to-fill before unlikely, then the larger
    expected PnL; an exact tie completes (keeping the arbitrage beats paying to leave it).
    """
    view = view or MarketView()
    complete = _complete_option(inp, complete_venue, cfg, view)
    unwind = _unwind_option(inp, unwind_venue, cfg, view)
    candidates = [o for o in (complete, unwind) if o.feasible]
    if not candidates:
        return HedgeDecision(
            inp.attempt, inp.residual, HedgeChoice.GIVE_UP, complete, unwind,
            f"no option can be sent: complete {complete.note}; unwind {unwind.note}",
        )
    if inp.failed_completes and unwind.feasible and not (
        complete.feasible and view.complete_ask is not None and complete.likely
    ):
        shown = "no ask known" if view.complete_ask is None else f"best ask {view.complete_ask}"
        return HedgeDecision(
            inp.attempt, inp.residual, HedgeChoice.UNWIND, complete, unwind,
            f"unwind: {inp.failed_completes} completion(s) failed and the book shows no ask "
            f"within the limit ({shown}, limit {complete.limit}); expected loss "
            f"{unwind.expected_loss}",
        )
    best = max(candidates, key=lambda o: (o.likely, o.expected_pnl, o.action == "complete"))
    other = unwind if best is complete else complete
    if other.feasible:
        reason = (
            f"{best.action}: expected loss {best.expected_loss} vs {other.action} "
            f"{other.expected_loss} (likely {best.likely}/{other.likely})"
        )
    else:
        reason = f"{best.action}: only option ({other.action} {other.note})"
    return HedgeDecision(inp.attempt, inp.residual, HedgeChoice(best.action), complete, unwind, reason)
