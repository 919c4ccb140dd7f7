"""Start-up recovery: finish every saga the journal shows as unfinished, flat, hedged or named.

Nothing here knows *where* the previous process died. Each unfinished saga is rebuilt by replaying
its events; the pure saga then says what is missing. An intent without an answer becomes a lookup
by client order id (the executor never resends), a missing leg 2 or hedge is placed under its
deterministic id, and the saga runs to ``done`` or ``failed`` like any other. The risk
reservation journaled with the saga is restored first so the capital it holds is not handed to a
new opportunity while recovery runs, and so are the day's PnL and hedge failures (the kill
switch's counts must not start from zero because the process did).

Recovery decides on fresh books, never on none (docs/adr/0170): before any saga is driven, the
legs' markets are read by REST (:class:`~arbiter.execution.fresh_books.RestQuotes`) and every hedge
decision of the recovery reads a snapshot at most ``max_book_age_s`` old. A completion that
fails turns into an unwind within the hedge bounds (:func:`arbiter.core.hedge.decide_hedge`).
What still cannot be closed is a named residual (:mod:`arbiter.core.residual`): journaled,
reported here, exported and alerted by the arbiter, and counted toward the kill switch as a
hedge failure (docs/adr/0171). A failed saga whose residual report was lost to a crash (between
its ``finished`` event and the report) is reported now.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.residual import RESIDUAL_LOG, Residual
from arbiter.core.risk import DAY_NS, RiskBook
from arbiter.core.saga import Saga
from arbiter.execution.executor import SagaExecutor
from arbiter.execution.fresh_books import RestQuotes
from arbiter.execution.journal import Journal

__all__ = ["RecoveryReport", "recover", "report_lost_residuals", "restore_day"]


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    sagas: int
    endings: dict[str, int] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    errors: list[str] = field(default_factory=list)
    #: residuals the recovered sagas left (and lost reports written again), as journaled
    residuals: list[dict[str, Any]] = field(default_factory=list)
    #: books read before deciding, and those that could not be read (``venue:market: error``)
    books: int = 0
    book_errors: list[str] = field(default_factory=list)


async def recover(
    executor: SagaExecutor,
    risk: RiskBook | None = None,
    *,
    fresh_books: bool = True,
    max_book_age_s: float = 1.0,
) -> RecoveryReport:
    """Drive every unfinished saga in ``executor.journal`` to a terminal state (concurrently).

    ``fresh_books``: read the legs' books by REST before deciding, and decide every hedge of the
    recovery on a snapshot at most ``max_book_age_s`` old (the executor's own quote source is
    put back afterwards).
    """
    started = time.perf_counter()
    journal = executor.journal
    if risk is not None:
        restore_day(journal, risk, executor.clock())
    sagas: list[Saga] = []
    for saga_id in journal.unfinished():
        if risk is not None:
            reservation = journal.reservation(saga_id)
            if reservation is not None:
                risk.restore(reservation)
        sagas.append(journal.load(saga_id))
    reported_before = {str(b.get("saga_id")) for _, _, b in journal.logs(RESIDUAL_LOG)}
    books = 0
    book_errors: list[str] = []
    saved_quotes = executor.quotes
    quotes: RestQuotes | None = None
    if fresh_books:
        quotes = RestQuotes(executor.clients, max_age_s=max_book_age_s, fallback=saved_quotes)
        markets = {(leg.venue, leg.market) for s in sagas for leg in (s.plan.first, s.plan.second)}
        books = await quotes.refresh(markets)
        executor.quotes = quotes
    try:
        results = await asyncio.gather(*(executor.drive(s) for s in sagas), return_exceptions=True)
        await report_lost_residuals(executor)
    finally:
        executor.quotes = saved_quotes
    if quotes is not None:
        book_errors = [f"{v}:{m}: {e}" for (v, m), e in sorted(quotes.errors.items())]
    endings: dict[str, int] = {}
    errors: list[str] = []
    for saga, result in zip(sagas, results, strict=True):
        if isinstance(result, BaseException):
            errors.append(f"{saga.saga_id}: {type(result).__name__}: {result}")
            continue
        key = saga.ending.value if saga.ending is not None else "unfinished"
        endings[key] = endings.get(key, 0) + 1
    residuals = [b for _, _, b in journal.logs(RESIDUAL_LOG)
                 if str(b.get("saga_id")) not in reported_before]
    return RecoveryReport(len(sagas), endings, (time.perf_counter() - started) * 1000, errors,
                          residuals, books, book_errors)


async def report_lost_residuals(executor: SagaExecutor) -> list[Residual]:
    """Report every failed saga of the journal that has no residual report (a crash came
    between its ending and the report); returns what was reported."""
    journal = executor.journal
    reported = {str(b.get("saga_id")) for _, _, b in journal.logs(RESIDUAL_LOG)}
    out: list[Residual] = []
    for row in journal.sagas_since(0, ending="failed"):
        if row.saga_id in reported:
            continue
        saga = journal.load(row.saga_id)
        residual = await executor.report_residual(saga)
        if residual is not None:
            out.append(residual)
    return out


def restore_day(journal: Journal, risk: RiskBook, now_ns: int) -> None:
    """The day's realised PnL and hedge failures as the journal has them (UTC day).

    Hedge failures count from the last kill-switch reset of the day, as a reset in this process
    would have left them; sagas still unfinished are added when recovery finishes them.
    """
    day_start = now_ns // DAY_NS * DAY_NS
    since_reset = day_start
    for ts, _, body in journal.logs("kill_switch"):
        if body.get("reason") == "reset" and ts >= since_reset:
            since_reset = ts
    pnl = 0
    failures = 0
    for row in journal.sagas_since(day_start):
        if row.ending is None:
            continue
        pnl += row.pnl
        if row.ending == "failed" and row.updated_ns >= since_reset:
            failures += 1
    risk.restore_day(now_ns, pnl, failures)
