"""A residual: contracts a saga could not close, named and valued for the operator.

A saga ends ``failed`` only when contracts of its first leg are left with no complement and
neither a completion nor an unwind could close them (the venue's minimum size, an empty book,
every hedge attempt outside its slippage bound). Such a position is a naked directional bet, and
the engine must say so by name, never just count it: :func:`residual_of` turns the saga's
journaled state into one :class:`Residual` naming the venue, market, outcome and size held, what
it cost, and what it is worth at the best bid of a fresh book (``None`` when no book could be
read: unknown is never zero). The shells journal it (``log`` kind ``residual``), export it as a
metric, fire the alert and count it toward the kill switch (docs/adr/0171).

Pure: no clock, no I/O; money in exact integers (``arbiter.core.units``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arbiter.core.book import Outcome
from arbiter.core.saga import Ending, Saga

__all__ = ["RESIDUAL_LOG", "Residual", "residual_of"]

#: the journal ``log`` kind of a residual report (one row per failed saga)
RESIDUAL_LOG = "residual"


@dataclass(frozen=True, slots=True)
class Residual:
    saga_id: str
    pair: str
    venue: str
    market: str
    outcome: Outcome
    #: contracts held with no complement (``Size`` units, 1e-6 contract)
    contracts: int
    #: their share of what leg 1 cost, and of its fees (``Money`` units)
    cost: int
    fees: int
    #: best bid of the held outcome when the residual was reported; None = no book known
    mark_price: int | None
    #: ``contracts`` valued at ``mark_price`` (what selling them there would bring before fees)
    mark_value: int | None
    reason: str
    ts_ns: int

    @property
    def name(self) -> str:
        """The residual's name in alerts and summaries: where it is and which saga left it."""
        return f"{self.venue}:{self.market}:{self.outcome.value}@{self.saga_id}"

    @property
    def value(self) -> int:
        """What the residual is worth for limits: its mark if known, else what it cost.

        A residual with no book is valued at its cost (the money at risk), never at zero."""
        return self.mark_value if self.mark_value is not None else self.cost + self.fees

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "saga_id": self.saga_id, "pair": self.pair, "venue": self.venue,
            "market": self.market, "outcome": self.outcome.value, "contracts": self.contracts,
            "cost": self.cost, "fees": self.fees, "mark_price": self.mark_price,
            "mark_value": self.mark_value, "value": self.value, "reason": self.reason,
            "ts_ns": self.ts_ns,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Residual:
        mark = d.get("mark_price")
        value = d.get("mark_value")
        return cls(
            str(d["saga_id"]), str(d["pair"]), str(d["venue"]), str(d["market"]),
            Outcome(d["outcome"]), int(d["contracts"]), int(d["cost"]), int(d["fees"]),
            None if mark is None else int(mark), None if value is None else int(value),
            str(d["reason"]), int(d["ts_ns"]),
        )


def residual_of(saga: Saga, bid: int | None, now_ns: int) -> Residual | None:
    """The residual a finished saga left (``None`` when it ended flat or hedged).

    ``bid`` is the best bid of the first leg's outcome in a fresh book (``None``: unknown).
    """
    finished = saga.finished
    if finished is None or finished.ending is not Ending.FAILED:
        return None
    contracts = saga.residual()
    if contracts <= 0:
        return None
    held = saga.hedge_input()
    leg = saga.plan.first
    mark_value = None if bid is None else bid * contracts
    return Residual(
        saga.saga_id, saga.plan.pair, leg.venue, leg.market, leg.outcome, contracts,
        int(held.held_cost), int(held.held_fees), bid, mark_value, finished.reason, now_ns,
    )
