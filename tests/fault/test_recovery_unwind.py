"""Recovery after a crash mid-saga ends every saga flat, hedged or named (issue 23, ADR 0170/0171).

The executor dies (in-process stand-in for ``kill -9``: an exception at a journal commit) right
after leg 1 filled and before leg 2's intent became durable. While it is down the book it would
complete on moves out of reach. The restarted executor must not spend its hedge attempts on
completions nobody can fill: with fresh REST books it unwinds at once; with no book at all, the
completion that fails turns into an unwind. Where nothing can close the position, the residual
is journaled by name with its cost, reported by the recovery and counted toward the kill switch.
Every test ends with the chaos bench's audit: one venue order per step, journal = venue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from arbiter.core.residual import RESIDUAL_LOG
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import Ending, Role
from arbiter.execution.executor import SagaExecutor
from arbiter.execution.recovery import recover
from arbiter.execution.risk_manager import RiskManager
from tests.fault.executor_proc import POLICY
from tests.fault.harness import Venues
from tests.fault.live import C
from tests.fault.test_venue_faults import CFG, Crash, Engine, assert_clean, engine, opp, shape

pytestmark = pytest.mark.integration

#: write 1: saga start + leg-1 intent, 2: leg 1's answer, 3: leg 2's intent (never durable)
BEFORE_LEG2 = 3


@pytest.fixture
async def venues(tmp_path: Path) -> AsyncIterator[Venues]:
    v = await Venues.start(tmp_path / "venues")
    try:
        yield v
    finally:
        await v.stop()


async def crash_after_leg1(venues: Venues, tmp_path: Path) -> None:
    """Leg 1 (Polymarket NO, 10 contracts at 0.55) fills; the process dies before leg 2."""
    shape(venues, 30, 30)
    e = await engine(venues, tmp_path)

    def die(n: int) -> None:
        if n == BEFORE_LEG2:
            raise Crash(n)

    e.journal.before_commit = die
    try:
        with pytest.raises(Crash):
            await e.executor.submit(opp(venues))
    finally:
        await e.close()


def far_complement(venues: Venues, poly_bids: bool = True) -> None:
    """Kalshi YES only at 0.48/0.49 (beyond the completion's 3-tick bound); Polymarket NO bid
    0.53 (inside the unwind bound) unless ``poly_bids`` is off."""
    venues.cancel_makers()
    for p in (4800, 4900):
        venues.kalshi_quote("ask", p, 40 * C)
    no = venues.pair.polymarket_no_token
    venues.poly_quote(no, "ask", 5600, 40 * C)
    if poly_bids:
        venues.poly_quote(no, "bid", 5300, 300 * C)


def restarted(e: Engine, limits: RiskLimits | None = None) -> RiskManager:
    """The restarted executor as the arbiter builds it: no live books yet, a risk manager."""
    risk = RiskManager(RiskBook(limits or RiskLimits()), e.clients, {e.v.pair.name: e.v.pair},
                       e.journal)
    e.executor = SagaExecutor(e.journal, e.clients, {e.v.pair.name: e.v.pair}, policy=POLICY,
                              config=CFG, risk=risk)
    return risk


@pytest.mark.parametrize("fresh_books", [True, False])
async def test_recovery_unwinds_when_the_completion_is_out_of_reach(
    venues: Venues, tmp_path: Path, fresh_books: bool
) -> None:
    await crash_after_leg1(venues, tmp_path)
    far_complement(venues)
    e = await engine(venues, tmp_path)
    try:
        restarted(e)
        report = await recover(e.executor, fresh_books=fresh_books)
        assert report.sagas == 1 and not report.errors, report
        assert report.books == (2 if fresh_books else 0)
        (sid,) = e.journal.saga_ids()
        saga = e.journal.load(sid)
        assert saga.ending is Ending.UNWOUND, saga.describe()
        roles = [o.intent.role for o in saga.orders.values()]
        if fresh_books:  # the fresh book shows no ask within reach: no completion is sent
            assert roles == [Role.LEG1, Role.LEG2, Role.UNWIND], saga.describe()
        else:  # decided blind once; the failed completion turns into the unwind
            assert roles == [Role.LEG1, Role.LEG2, Role.COMPLETE, Role.UNWIND], saga.describe()
            assert "completion(s) failed" in saga.decisions[-1].reason
        unwind = next(o for o in saga.orders.values() if o.intent.role is Role.UNWIND)
        assert unwind.final is not None and unwind.final.filled == 10 * C
        assert report.residuals == [] and list(e.journal.logs(RESIDUAL_LOG)) == []
    finally:
        await e.close()
    await assert_clean(venues, tmp_path)


async def test_what_cannot_be_closed_is_a_named_residual_that_counts_toward_the_kill_switch(
    venues: Venues, tmp_path: Path
) -> None:
    await crash_after_leg1(venues, tmp_path)
    far_complement(venues, poly_bids=False)  # nobody buys the NO back, nobody sells the YES
    e = await engine(venues, tmp_path)
    try:
        risk = restarted(e, RiskLimits(max_hedge_failures=1))
        report = await recover(e.executor, risk.book)
        assert report.sagas == 1 and report.endings == {"failed": 1}, report
        (entry,) = report.residuals
        assert entry["venue"] == "polymarket" and entry["market"] == venues.pair.polymarket_no_token
        assert entry["contracts"] == 10 * C and entry["cost"] == 5500 * 10 * C
        assert entry["mark_price"] is None  # no bid in the fresh book: unknown, not zero
        assert entry["value"] == entry["cost"] + entry["fees"]
        assert entry["name"].startswith(f"polymarket:{venues.pair.polymarket_no_token}:no@")
        (_, _, logged), = e.journal.logs(RESIDUAL_LOG)
        assert logged == entry
        # the kill switch counted it (limit 1) and journaled the trip
        assert risk.book.killed is not None and "hedge failures" in risk.book.killed
        assert [b["automatic"] for _, _, b in e.journal.logs("kill_switch")] == [True]
    finally:
        await e.close()
    await assert_clean(venues, tmp_path)
    # a second restart reports nothing new and restores the day's count from the journal
    e = await engine(venues, tmp_path)
    try:
        book = RiskBook(RiskLimits(max_hedge_failures=1))
        restarted(e)
        again = await recover(e.executor, book)
        assert again.sagas == 0 and again.residuals == []
        assert book.hedge_failures == 1 and book.daily_pnl == -(5500 * 10 * C + entry["fees"])
    finally:
        await e.close()


async def test_a_residual_report_lost_to_a_crash_is_written_at_the_next_start(
    venues: Venues, tmp_path: Path
) -> None:
    await crash_after_leg1(venues, tmp_path)
    far_complement(venues, poly_bids=False)
    e = await engine(venues, tmp_path)
    try:
        restarted(e)
        original = e.journal.log

        def log(kind: str, body: dict[str, object], ts_ns: int) -> None:
            if kind == RESIDUAL_LOG:  # the process dies just before the report is durable
                raise Crash(0)
            original(kind, body, ts_ns)

        e.journal.log = log  # type: ignore[method-assign]
        with pytest.raises(Crash):
            await recover(e.executor)
    finally:
        await e.close()
    e = await engine(venues, tmp_path)
    try:
        restarted(e)
        report = await recover(e.executor)
        assert report.sagas == 0
        (entry,) = report.residuals
        assert entry["contracts"] == 10 * C
    finally:
        await e.close()
    await assert_clean(venues, tmp_path)
