"""Reconciliation: do the venues hold what the journal says we hold, and nothing it does not know?

Journal positions are the fold of every final order in the journal; venue positions come from
each client's ``positions()``. Venues disagree on shape, so both sides are normalised first:
on a *netting* venue (Kalshi keeps one signed position per market, YES minus NO) the comparison is
per market and signed; elsewhere (a Polymarket token is its own instrument) it is per market, the
outcome label being whatever the client chose. Any difference is reported, journaled and passed
to the alert callback; reconciliation never "fixes" anything by itself, because a difference
means something outside the engine's knowledge happened and a human must look.

Besides positions, a round can check the venue's *orders* (a resting order whose id and client
order id the journal never saw) and *fills* (a fill of such an order): the same unknown outcome a
position difference shows, caught before it has moved a position, and named by its venue id.

:class:`ReconcileJob` is what the running engine uses (the arbiter, one per tenant: ADR 0140):
on a schedule and after every recovery, only when the tenant has no saga in flight (a saga's
orders and fills reach the journal a moment after the venue; a round overlapping one is
discarded as inconclusive and retried), and while a round is not clean the tenant's new sagas
are refused (:attr:`ReconcileJob.blocking`) until a later round comes back clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.book import Outcome
from arbiter.core.positions import PositionBook
from arbiter.execution.journal import Journal
from arbiter.venues.base import AuthError, ExchangeClient, PositionReport

__all__ = ["MISMATCH", "UNKNOWN", "Difference", "ReconcileJob", "ReconcileReport", "normalise",
           "reconcile", "record_mismatch"]

log = logging.getLogger(__name__)

NETTING_VENUES = frozenset({"kalshi"})


#: why a tenant's new sagas are refused while its last round was not clean
MISMATCH = "reconcile_mismatch"
UNKNOWN = "reconcile_unknown"


@dataclass(frozen=True, slots=True)
class Difference:
    """One finding: a position that differs (``kind`` "position"), or an order or fill at the
    venue the journal does not know (``kind`` "order"/"fill", ``ref`` its venue id, ``venue_size``
    its remaining/filled size, ``journal`` 0)."""

    venue: str
    market: str
    journal: int
    venue_size: int
    kind: str = "position"
    ref: str = ""

    def describe(self) -> str:
        if self.kind != "position":
            return (f"{self.venue}:{self.market} unknown {self.kind} {self.ref} "
                    f"size {self.venue_size}")
        return f"{self.venue}:{self.market} journal {self.journal} venue {self.venue_size}"


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    checked: int
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: venues that refused the tenant's credentials in this round (each is among ``errors`` too):
    #: a revoked key shows here within a round, before any order has to meet it
    refused: list[str] = field(default_factory=list)

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


def _unreadable(venue: str, what: str, exc: Exception, errors: list[str],
                refused: list[str]) -> None:
    """A venue read that failed: a finding (unknown is never zero), and a refused key named."""
    errors.append(f"{venue}: {what} unavailable: {exc}")
    if isinstance(exc, AuthError) and venue not in refused:
        refused.append(venue)


async def _unknown_activity(
    journal: Journal, clients: Mapping[str, ExchangeClient], fills_since_ms: int | None,
    wanted: Callable[[str, str], bool], errors: list[str], refused: list[str],
) -> list[Difference]:
    """Resting orders and fills at the venues that no journal order row accounts for."""
    rows = journal.orders()
    cids = {r.cid for r in rows}
    ids = {r.order_id for r in rows if r.order_id}
    found: list[Difference] = []
    for venue, client in clients.items():
        try:
            for o in await client.open_orders():
                if (not o.status.is_final and wanted(venue, o.market)
                        and o.order_id not in ids and o.client_order_id not in cids):
                    found.append(Difference(venue, o.market, 0, int(o.remaining), "order",
                                            o.order_id))
            if fills_since_ms is None:
                continue
            for f in await client.fills(fills_since_ms):
                if (f.venue == venue and wanted(venue, f.market) and f.order_id not in ids
                        and f.client_order_id not in cids):
                    found.append(Difference(venue, f.market, 0, int(f.size), "fill", f.fill_id))
        except Exception as exc:  # an order book we cannot read is a finding too
            _unreadable(venue, "orders/fills", exc, errors, refused)
    return found


async def reconcile(
    journal: Journal,
    clients: Mapping[str, ExchangeClient],
    markets: Iterable[tuple[str, str]] | None = None,
    alert: Callable[[ReconcileReport], None] | None = None,
    netting: frozenset[str] = NETTING_VENUES,
    clock: Callable[[], int] = time.time_ns,
    orders: bool = False,
    fills_since_ms: int | None = None,
    journaled: bool = True,
) -> ReconcileReport:
    """Compare journal and venue positions; ``markets`` limits the check to (venue, market)s.

    ``orders``: also report resting orders the journal does not know; ``fills_since_ms``: also
    report fills since then (ms) of orders the journal does not know. ``journaled=False`` leaves
    the journal and ``alert`` to the caller (:class:`ReconcileJob` records conclusive rounds only).
    """
    scope = set(markets) if markets is not None else None

    def wanted(venue: str, market: str) -> bool:
        return scope is None or (venue, market) in scope

    ours = normalise(_journal_side(journal.positions()), netting)
    theirs: dict[tuple[str, str], int] = {}
    errors: list[str] = []
    refused: list[str] = []
    for venue, client in clients.items():
        try:
            reports = await client.positions()
        except Exception as exc:  # a venue we cannot read is itself a finding
            _unreadable(venue, "positions", exc, errors, refused)
            continue
        theirs.update(normalise(_venue_side(r for r in reports if r.venue == venue), netting))
    keys = set(ours) | set(theirs)
    if scope is not None:
        keys &= scope
    diffs = [
        Difference(v, m, ours.get((v, m), 0), theirs.get((v, m), 0))
        for v, m in sorted(keys)
        if ours.get((v, m), 0) != theirs.get((v, m), 0)
    ]
    if orders or fills_since_ms is not None:
        diffs += await _unknown_activity(journal, clients, fills_since_ms, wanted, errors,
                                         refused)
    report = ReconcileReport(len(keys), diffs, errors, refused)
    if not report.clean and journaled:
        record_mismatch(journal, report, clock())
        if alert is not None:
            alert(report)
    return report


def record_mismatch(journal: Journal, report: ReconcileReport, now_ns: int) -> None:
    """A round that was not clean, into the journal's log and the error log."""
    body = {"differences": [d.describe() for d in report.differences], "errors": report.errors}
    journal.log("reconcile_mismatch", body, now_ns)
    log.error("reconciliation mismatch: %s", body)


class ReconcileJob:
    """Runs :func:`reconcile` every ``interval_s`` until stopped; keeps the last report.

    Mismatches go to ``alert`` (and the journal) each time they are seen, so an operator keeps
    hearing about a difference until someone explains it. While the last conclusive round was
    not clean, :attr:`blocking` names why (:data:`MISMATCH`: a difference; :data:`UNKNOWN`: a
    venue could not be read, and unknown is never zero) and rounds come every ``recheck_s``, so
    that a resolved difference unblocks the tenant within seconds.

    ``quiet`` (the engine's) returns a token while the tenant has no saga in flight and None
    otherwise; the token must be unchanged after the round (no saga began during it), or the
    round is inconclusive (counted, retried after ``retry_s``) and changes nothing.
    ``on_report`` is told every conclusive report (the engine records the metric from it).
    ``fills_since_ms`` starts the fill check's window; each conclusive round moves it to its own
    start less ``fills_margin_s``.
    """

    def __init__(
        self,
        journal: Journal,
        clients: Mapping[str, ExchangeClient],
        interval_s: float = 60.0,
        alert: Callable[[ReconcileReport], None] | None = None,
        netting: frozenset[str] = NETTING_VENUES,
        *,
        markets: Iterable[tuple[str, str]] | None = None,
        orders: bool = False,
        fills_since_ms: int | None = None,
        quiet: Callable[[], Any] | None = None,
        on_report: Callable[[ReconcileReport], None] | None = None,
        recheck_s: float = 5.0,
        retry_s: float = 1.0,
        fills_margin_s: float = 60.0,
    ) -> None:
        self.journal = journal
        self.clients = clients
        self.interval_s = interval_s
        self.alert = alert
        self.netting = netting
        self.markets = list(markets) if markets is not None else None
        self.orders = orders
        self.fills_since_ms = fills_since_ms
        self.quiet = quiet
        self.on_report = on_report
        self.recheck_s = recheck_s
        self.retry_s = retry_s
        self.fills_margin_s = fills_margin_s
        self.last: ReconcileReport | None = None
        self.runs = 0
        self.inconclusive = 0
        #: why the tenant's new sagas are refused (None: the last round was clean)
        self.blocking: str | None = None
        #: wall-clock cost of the last conclusive round (ms)
        self.last_ms = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # one round at a time: two overlapping rounds (the schedule's and an operator's) can end
        # out of order, and the older one's verdict would then overwrite the newer one's
        self._round = asyncio.Lock()

    async def run_once(self) -> ReconcileReport | None:
        """One round, begun after any round already running has ended; None if a saga was in
        flight or began meanwhile (nothing changes)."""
        async with self._round:
            return await self._run_once()

    async def _run_once(self) -> ReconcileReport | None:
        token = self.quiet() if self.quiet is not None else True
        if token is None:
            self.inconclusive += 1
            return None
        started = time.perf_counter()
        round_ms = time.time_ns() // 1_000_000
        report = await reconcile(self.journal, self.clients, self.markets, alert=None,
                                 netting=self.netting, orders=self.orders,
                                 fills_since_ms=self.fills_since_ms, journaled=False)
        if self.quiet is not None and self.quiet() != token:
            self.inconclusive += 1
            return None
        self.last_ms = (time.perf_counter() - started) * 1000
        if self.fills_since_ms is not None:
            # the next round reads the fills since this one (less a margin for a venue that
            # shows a fill late): an unknown fill is reported for about ``fills_margin_s``;
            # what it did to a position stays a position difference until someone undoes it
            self.fills_since_ms = max(self.fills_since_ms,
                                      round_ms - int(self.fills_margin_s * 1000))
        self.last = report
        self.runs += 1
        self.blocking = None if report.clean else (MISMATCH if report.differences else UNKNOWN)
        if self.on_report is not None:
            self.on_report(report)
        if not report.clean:
            record_mismatch(self.journal, report, time.time_ns())
            if self.alert is not None:
                self.alert(report)
        return report

    def poke(self) -> None:
        """Run a round now (after a recovery, or an operator asking)."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            delay = self.interval_s
            try:
                if await self.run_once() is None:
                    delay = self.retry_s
                elif self.blocking is not None:
                    delay = min(self.recheck_s, self.interval_s)
            except Exception as exc:  # a failed round must not end the job
                log.error("reconciliation round failed: %s", exc)
                delay = self.retry_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
