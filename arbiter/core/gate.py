"""The per-pair gate in front of detection: busy while a saga is in flight, then a cooldown.

One implementation for the live tick path (:mod:`arbiter.execution.tickpath`) and the backtest
replay (:mod:`arbiter.backtest.replay`), so a backtest trades under the rules the engine trades
under (ADR 0150). Both ask :meth:`PairGate.closed` *before* running detection on a pair: while
the pair is closed nothing found there could be admitted, so detecting and sizing it is wasted
work - in a dense arbitrage window that waste was most of a replay's time.

Semantics (one for both callers):

* :meth:`admit` marks the pair busy; it refuses a busy pair, a cooling pair, and any pair once
  ``max_open_sagas`` are in flight;
* :meth:`release` (the saga ended, whatever its ending) clears busy and starts the cooldown:
  the cooldown runs from the *end* of the saga, because its job is to let the book reflect our
  own fills before we look again - a cooldown counted from the launch would already be over when
  a slow saga ends.

Pure and O(1): no I/O, no clock of its own (callers pass their time: wall clock live, simulated
clock in a replay).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from arbiter.core.detection import Opportunity

__all__ = ["GateConfig", "PairGate", "best_first"]


@dataclass(frozen=True, slots=True)
class GateConfig:
    """What the gate decides alone, before the tenant's risk book sees an opportunity."""

    #: sagas allowed in flight at once (across pairs)
    max_open_sagas: int = 4
    #: the pair stays closed this long after a saga on it ends, so the book can reflect our
    #: own fills before we look again (a stale book would fire the same opportunity twice)
    cooldown_ns: int = 50_000_000


class PairGate:
    """In-flight guard per pair: O(1), no I/O.

    Limits (balances, exposure, daily loss, kill switch) are the tenant's core ``RiskBook``'s job
    inside the executor; this gate only stops the caller from firing the *same* pair again
    while a saga on it is in flight or its book still shows our own fills.
    """

    __slots__ = ("_busy", "_cool_until", "config", "rejections")

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self._busy: set[str] = set()
        self._cool_until: dict[str, int] = {}
        #: refusals at :meth:`admit`, by reason (``pair_busy``, ``cooldown``, ``max_open_sagas``)
        self.rejections: Counter[str] = Counter()

    @property
    def open_sagas(self) -> int:
        return len(self._busy)

    def closed(self, pair: str, now_ns: int) -> bool:
        """True while nothing on ``pair`` could be admitted: detection there is wasted work."""
        return pair in self._busy or now_ns < self._cool_until.get(pair, 0)

    def admit(self, opp: Opportunity, now_ns: int) -> bool:
        reason = self._refusal(opp.pair, now_ns)
        if reason is not None:
            self.rejections[reason] += 1
            return False
        self._busy.add(opp.pair)
        return True

    def _refusal(self, pair: str, now_ns: int) -> str | None:
        if pair in self._busy:
            return "pair_busy"
        if now_ns < self._cool_until.get(pair, 0):
            return "cooldown"
        if len(self._busy) >= self.config.max_open_sagas:
            return "max_open_sagas"
        return None

    def release(self, opp: Opportunity, now_ns: int) -> None:
        self._busy.discard(opp.pair)
        self._cool_until[opp.pair] = now_ns + self.config.cooldown_ns


def best_first(found: list[Opportunity]) -> list[Opportunity]:
    """Admission order when one detection finds several directions: the most profitable first
    (the gate then keeps only that one for the pair). Stable, so ties keep detection order."""
    return sorted(found, key=lambda o: -o.profit)
