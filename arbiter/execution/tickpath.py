"""The fast path: book event → detection → risk gate → saga launch, all in one process.

A plain Ray actor call costs ~0.8 ms median and ~9 ms p99 on the target machines, so a path that
hops monitor → arbiter → risk → executor per tick could never meet a 1-2 ms tick-to-order p99.
The engine therefore runs the whole per-tick path in the arbiter's process (ADR 0060): the venue
feeds write straight into the detector's books, ``on_kalshi``/``on_token`` run detection on the
touched pair, the :class:`RiskGate` keeps a pair from firing twice, the tenant's risk book (in the
executor, same process) admits against the limits, and the admitted opportunity is handed to a
:class:`Launcher` (the tenant's saga executor) as an asyncio task in the same event loop. Ray
calls only carry supervision and state traffic, off the tick path: risk snapshots for the
cross-tenant risk manager (which trips kill switches), saga reports, dashboard snapshots.

Nothing here does I/O itself; feeds and launchers are injected, so the same object runs under
the live actors, the in-process ``arbiter run`` and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from arbiter.core.book import Outcome
from arbiter.core.detection import Detector, Opportunity
from arbiter.core.gate import GateConfig, PairGate, best_first

#: the tick path's name for the one per-pair gate (ADR 0150: shared with the backtest replay)
RiskGate = PairGate

__all__ = [
    "BookQuotes",
    "GateConfig",
    "LatencyWindow",
    "Launcher",
    "RiskGate",
    "SagaReport",
    "TickPath",
    "TickStats",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SagaReport:
    """What a launcher says about one finished saga (the journal holds the full story)."""

    saga_id: str
    pair: str
    direction: str
    #: core saga ending (completed / hedged / unwound / no_fill / failed) or ``rejected:<reason>``
    outcome: str
    #: settlement-valued PnL in core money units
    pnl: int
    #: the tenant the saga ran for (ADR 0147: one tenant per opportunity); "-" when none took it
    tenant: str = "-"


class Launcher(Protocol):
    """Starts one saga for an admitted opportunity.

    ``start`` runs synchronously in the feed callback up to leg 1 being sent (so no event-loop
    turn sits on the tick path, ADR 0064) and returns what to await for the saga's end.
    """

    def start(self, opportunity: Opportunity) -> Awaitable[SagaReport]: ...


class LatencyWindow:
    """The last N samples in ns, with exact percentiles on demand (no float on the way in)."""

    def __init__(self, size: int = 4096) -> None:
        self.samples: deque[int] = deque(maxlen=size)
        self.count = 0

    def add(self, ns: int) -> None:
        self.samples.append(ns)
        self.count += 1

    def percentile(self, q: float) -> int | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]


@dataclass
class TickStats:
    ticks: int = 0
    opportunities: int = 0
    admitted: int = 0
    sagas: Counter[str] = field(default_factory=Counter)
    #: opportunities the tenant's risk book refused, by reason
    refused: Counter[str] = field(default_factory=Counter)
    pnl: int = 0
    #: detection → saga launch (in-process part of the tick path)
    decide_ns: LatencyWindow = field(default_factory=LatencyWindow)
    #: the launcher's synchronous start (risk, plan, journal, leg 1 handed to its client)
    start_ns: LatencyWindow = field(default_factory=LatencyWindow)
    #: detection → first-leg order handed to the venue client (filled in by the launcher side)
    first_leg: LatencyWindow = field(default_factory=LatencyWindow)
    #: (detected, handed to the client, back from the client: on the wire) wall-clock ns of the
    #: latest first legs
    first_leg_log: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=4096))
    recent: deque[dict[str, object]] = field(default_factory=lambda: deque(maxlen=50))


class TickPath:
    """Detector + gate + launcher in one event loop; feeds call :meth:`on_kalshi`/:meth:`on_token`."""

    def __init__(
        self,
        detector: Detector,
        gate: RiskGate,
        launcher: Launcher | None,
        clock_ns: Callable[[], int] = time.time_ns,
        on_report: Callable[[Opportunity, SagaReport], None] | None = None,
    ) -> None:
        self.detector = detector
        self.gate = gate
        self.launcher = launcher
        self.clock_ns = clock_ns
        self.on_report = on_report
        self.stats = TickStats()
        self.tasks: set[asyncio.Task[None]] = set()
        self.paused = False
        #: market key (Kalshi ticker or Polymarket token) -> pair name, to skip closed pairs
        self._pair_of: dict[str, str] = {}
        for pair in detector.pairs:
            for key in (pair.kalshi_ticker, pair.polymarket_yes_token, pair.polymarket_no_token):
                self._pair_of[key] = pair.name

    # -- feed callbacks (synchronous, on the hot path) ------------------------------------------
    def on_kalshi(self, ticker: str) -> None:
        self.stats.ticks += 1
        now = self.clock_ns()
        if self.paused or self.gate.closed(self._pair_of.get(ticker, ""), now):
            return
        found = self.detector.on_kalshi(ticker, now)
        if found:
            self._fire(found)

    def on_token(self, token: str) -> None:
        self.stats.ticks += 1
        now = self.clock_ns()
        if self.paused or self.gate.closed(self._pair_of.get(token, ""), now):
            return
        found = self.detector.on_token(token, now)
        if found:
            self._fire(found)

    def _fire(self, found: list[Opportunity]) -> None:
        stats = self.stats
        stats.opportunities += len(found)
        # best first: if two directions of one pair fire, the gate keeps only the better one
        for opp in best_first(found):
            now = self.clock_ns()
            if self.launcher is None or not self.gate.admit(opp, now):
                continue
            stats.admitted += 1
            stats.decide_ns.add(now - opp.detected_ns)
            try:
                pending = self.launcher.start(opp)
                stats.start_ns.add(self.clock_ns() - now)
            except Exception:  # a saga failure must never take the feed loop down with it
                log.exception("saga for %s %s failed to start", opp.pair, opp.direction)
                self.stats.sagas["error"] += 1
                self.gate.release(opp, self.clock_ns())
                continue
            task = asyncio.get_running_loop().create_task(self._run(opp, pending))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, opp: Opportunity, pending: Awaitable[SagaReport]) -> None:
        report: SagaReport | None = None
        try:
            report = await pending
        except asyncio.CancelledError:
            raise
        except Exception:  # a saga failure must never take the feed loop down with it
            log.exception("saga for %s %s failed", opp.pair, opp.direction)
            self.stats.sagas["error"] += 1
        finally:
            self.gate.release(opp, self.clock_ns())
        if report is not None and report.outcome.startswith("rejected:"):
            self.stats.refused[report.outcome.partition(":")[2]] += 1
        elif report is not None:
            self.stats.sagas[report.outcome] += 1
            self.stats.pnl += report.pnl
            self.stats.recent.append(
                {"saga": report.saga_id, "pair": report.pair, "direction": report.direction,
                 "outcome": report.outcome, "pnl": report.pnl}
            )
            if self.on_report is not None:
                self.on_report(opp, report)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Stop admitting and wait for sagas in flight (a saga is never abandoned mid-way)."""
        self.paused = True
        if self.tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), timeout_s)


class BookQuotes:
    """The executor's quote source in the arbiter: the detector's live books.

    A hedge decides between completing the saga and unwinding leg 1 from the venues' current
    prices. Without quotes it decides on its limits alone and keeps trying to complete at one
    tick worse per attempt although the book it holds shows nothing there; with them an
    out-of-reach completion is marked unlikely and the unwind is chosen instead. A book that has
    never been updated (the feeds are not up yet, e.g. during start-up recovery) is ``None``:
    unknown, not empty.
    """

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    async def __call__(
        self, venue: str, market: str, outcome: Outcome
    ) -> tuple[int | None, int | None] | None:
        return self.now(venue, market, outcome)

    def now(self, venue: str, market: str, outcome: Outcome) -> tuple[int | None, int | None] | None:
        d = self.detector
        if venue == "kalshi" and d.tracks_kalshi(market):
            book = d.kalshi_book(market)
            if not book.ts_ns:
                return None
            return book.best_bid(outcome), book.best_ask(outcome)
        if venue == "polymarket" and d.tracks_token(market):
            token = d.token_book(market)
            if not token.ts_ns:
                return None
            return token.best_bid, token.best_ask
        return None
