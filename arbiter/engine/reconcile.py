"""Reconciliation: do the venues hold what the journal says we hold?

Journal positions are the fold of every final order in the journal; venue positions come from
each client's ``positions()``. Venues disagree on shape, so both sides are normalised first:
on a *netting* venue (Kalshi keeps one signed position per market, YES minus NO) the comparison is
per market and signed; elsewhere (a Polymarket token is its own instrument) it is per market, the
outcome label being whatever the client chose. Any difference is reported, journaled and passed
to the alert callback; reconciliation never "fixes" anything by itself, because a difference
means something outside the engine's knowledge happened and a human must look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from arbiter.core.book import Outcome
from arbiter.core.positions import PositionBook
from arbiter.engine.journal import Journal
from arbiter.venues.base import ExchangeClient, PositionReport

__all__ = ["Difference", "ReconcileJob", "ReconcileReport", "normalise", "reconcile"]

log = logging.getLogger(__name__)

NETTING_VENUES = frozenset({"kalshi"})


@dataclass(frozen=True, slots=True)
class Difference:
    venue: str
    market: str
    journal: int
    venue_size: int

    def describe(self) -> str:
        return f"{self.venue}:{self.market} journal {self.journal} venue {self.venue_size}"


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    checked: int
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.errors


def normalise(
    holdings: Iterable[tuple[str, str, Outcome, int]], netting: frozenset[str] = NETTING_VENUES
) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for venue, market, outcome, size in holdings:
        signed = -size if venue in netting and outcome is Outcome.NO else size
        key = (venue, market)
        out[key] = out.get(key, 0) + signed
    return {k: v for k, v in out.items() if v}


def _journal_side(positions: PositionBook) -> list[tuple[str, str, Outcome, int]]:
    return [(p.venue, p.market, p.outcome, p.size) for p in positions.open_positions()]


def _venue_side(reports: Iterable[PositionReport]) -> list[tuple[str, str, Outcome, int]]:
    return [(r.venue, r.market, r.outcome, int(r.size)) for r in reports if r.size]


async def reconcile(
    journal: Journal,
    clients: Mapping[str, ExchangeClient],
    markets: Iterable[tuple[str, str]] | None = None,
    alert: Callable[[ReconcileReport], None] | None = None,
    netting: frozenset[str] = NETTING_VENUES,
    clock: Callable[[], int] = time.time_ns,
) -> ReconcileReport:
    """Compare journal and venue positions; ``markets`` limits the check to (venue, market)s."""
    ours = normalise(_journal_side(journal.positions()), netting)
    theirs: dict[tuple[str, str], int] = {}
    errors: list[str] = []
    for venue, client in clients.items():
        try:
            reports = await client.positions()
        except Exception as exc:  # a venue we cannot read is itself a finding
            errors.append(f"{venue}: positions unavailable: {exc}")
            continue
        theirs.update(normalise(_venue_side(r for r in reports if r.venue == venue), netting))
    keys = set(ours) | set(theirs)
    if markets is not None:
        keys &= set(markets)
    diffs = [
        Difference(v, m, ours.get((v, m), 0), theirs.get((v, m), 0))
        for v, m in sorted(keys)
        if ours.get((v, m), 0) != theirs.get((v, m), 0)
    ]
    report = ReconcileReport(len(keys), diffs, errors)
    if not report.clean:
        body = {"differences": [d.describe() for d in diffs], "errors": errors}
        journal.log("reconcile_mismatch", body, clock())
        log.error("reconciliation mismatch: %s", body)
        if alert is not None:
            alert(report)
    return report


class ReconcileJob:
    """Runs :func:`reconcile` every ``interval_s`` until stopped; keeps the last report.

    Mismatches go to ``alert`` (and the journal) each time they are seen, so an operator keeps
    hearing about a difference until someone explains it.
    """

    def __init__(
        self,
        journal: Journal,
        clients: Mapping[str, ExchangeClient],
        interval_s: float = 60.0,
        alert: Callable[[ReconcileReport], None] | None = None,
        netting: frozenset[str] = NETTING_VENUES,
    ) -> None:
        self.journal = journal
        self.clients = clients
        self.interval_s = interval_s
        self.alert = alert
        self.netting = netting
        self.last: ReconcileReport | None = None
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> ReconcileReport:
        self.last = await reconcile(self.journal, self.clients, alert=self.alert,
                                    netting=self.netting)
        self.runs += 1
        return self.last

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # a failed round must not end the job
                log.error("reconciliation round failed: %s", exc)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
