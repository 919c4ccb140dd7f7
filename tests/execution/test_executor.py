"""The saga executor against in-process fake venues: legs, hedges, venue faults, crash recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arbiter.core.book import Outcome
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.fees import KalshiFeeModel
from arbiter.core.risk import Reason, RiskBook, RiskLimits
from arbiter.core.saga import Ending, Saga
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.reconcile import reconcile
from arbiter.execution.recovery import recover
from arbiter.execution.risk_manager import RiskManager
from arbiter.execution.tickpath import BookQuotes
from arbiter.venues.base import (
    Action,
    AuthError,
    OrderRequest,
    PositionReport,
    TimeInForce,
    VenueError,
)
from tests.execution.factories import PAIR, C, opportunity
from tests.execution.fakes import FakeVenue

K = PAIR.kalshi_ticker
NO_TOKEN = PAIR.polymarket_no_token
FAST = ExecutorConfig(order_timeout_s=0.2, query_timeout_s=0.2, absent_grace_s=0.05,
                      resolve_backoff_s=0.005, resolve_timeout_s=5.0)


class Crash(BaseException):
    """The executor process dying at a journal commit boundary."""


@dataclass
class World:
    kalshi: FakeVenue
    poly: FakeVenue
    path: Path

    @property
    def clients(self) -> dict[str, FakeVenue]:
        return {"kalshi": self.kalshi, "polymarket": self.poly}

    def executor(self, journal: Journal, **kw: object) -> SagaExecutor:
        async def quotes(venue: str, market: str, outcome: Outcome) -> tuple[int | None, int | None]:
            return self.clients[venue].best(market, outcome)

        kw.setdefault("config", FAST)
        return SagaExecutor(journal, self.clients, {PAIR.name: PAIR}, quotes=quotes, **kw)  # type: ignore[arg-type]

    def all_orders_unique(self) -> bool:
        return all(len(v) == 1 for venue in (self.kalshi, self.poly) for v in venue.by_cid.values())


def world(tmp_path: Path, k_depth: int = 10, p_depth: int = 10) -> World:
    k = FakeVenue("kalshi", fee=KalshiFeeModel())
    p = FakeVenue("polymarket")
    if k_depth:
        k.add_liquidity(K, Outcome.YES, "ask", 4000, k_depth * C)
    k.add_liquidity(K, Outcome.YES, "ask", 4100, 50 * C)
    k.add_liquidity(K, Outcome.YES, "bid", 3800, 50 * C)
    if p_depth:
        p.add_liquidity(NO_TOKEN, Outcome.NO, "ask", 5500, p_depth * C)
    p.add_liquidity(NO_TOKEN, Outcome.NO, "bid", 5400, 50 * C)
    return World(k, p, tmp_path / "journal.db")


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    yw = world(tmp_path)
    yield yw
    await yw.kalshi.close()
    await yw.poly.close()


async def assert_consistent(wd: World, journal: Journal) -> None:
    assert journal.unfinished() == []
    assert wd.all_orders_unique()
    report = await reconcile(journal, wd.clients)
    assert report.clean, report


async def test_both_legs_fill_and_journal_matches_venues(w: World) -> None:
    with Journal(w.path) as j:
        result = await w.executor(j).submit(opportunity())
        saga = result.saga
        assert saga is not None and saga.ending is Ending.COMPLETED
        # slower venue (Polymarket) first, then Kalshi sized to the fill
        assert [o.intent.venue for o in saga.orders.values()] == ["polymarket", "kalshi"]
        assert saga.orders["L2"].final is not None and saga.orders["L2"].final.fees == 17 * 10**8
        assert saga.finished is not None
        assert saga.finished.pnl == 10 * C * (10_000 - 4000 - 5500) - 17 * 10**8
        await assert_consistent(w, j)


async def test_partial_leg2_is_completed_at_a_worse_price(tmp_path: Path) -> None:
    wd = world(tmp_path, k_depth=7)
    with Journal(wd.path) as j:
        saga = (await wd.executor(j).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.HEDGED
        c1 = saga.orders["C1"]
        assert c1.intent.size == 3 * C and c1.final is not None and c1.final.filled == 3 * C
        assert c1.final.cost == 4100 * 3 * C
        kinds = [k for k, _ in j.raw_events(saga.saga_id)]
        assert kinds == ["started", "intent", "final", "intent", "final", "decided", "intent", "final",
                         "finished"]
        await assert_consistent(wd, j)


async def test_missing_complement_is_unwound_and_the_choice_is_journaled(tmp_path: Path) -> None:
    wd = world(tmp_path, k_depth=0)
    wd.kalshi.books[(K, Outcome.YES)].cancel("mk1", 0)  # no Kalshi asks at all any more
    with Journal(wd.path) as j:
        saga = (await wd.executor(j).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.UNWOUND
        _, decided = next((k, b) for k, b in j.raw_events(saga.saga_id) if k == "decided")
        assert decided["decision"]["choice"] == "unwind"
        assert decided["decision"]["complete"]["likely"] is False
        assert saga.finished is not None and saga.finished.pnl == -100 * 10 * C  # sold 0.55 at 0.54
        await assert_consistent(wd, j)


@pytest.mark.parametrize("fault", ["timeout_after", "hang_after", "unknown_status_after"])
async def test_unknown_outcome_is_resolved_by_query_not_resubmission(w: World, fault: str) -> None:
    w.poly.faults = [fault]
    with Journal(w.path) as j:
        saga = (await w.executor(j).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.COMPLETED
        l1 = saga.orders["L1"]
        assert l1.errors and l1.final is not None and l1.final.source == "query"
        assert w.poly.submissions[l1.intent.cid] == 1
        await assert_consistent(w, j)


@pytest.mark.parametrize("fault", ["timeout_before", "5xx", "hang_before"])
async def test_an_order_that_never_landed_is_declared_absent_not_resent(w: World, fault: str) -> None:
    w.poly.faults = [fault]
    with Journal(w.path) as j:
        saga = (await w.executor(j).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.NO_FILL
        l1 = saga.orders["L1"]
        assert l1.final is not None and l1.final.source == "absent"
        assert w.poly.submissions[l1.intent.cid] == 0 and not w.kalshi.submissions
        await assert_consistent(w, j)


async def test_a_late_landing_order_is_found_within_the_grace_period(w: World) -> None:
    w.poly.faults = ["late"]
    w.poly.late_s = 0.05
    cfg = ExecutorConfig(order_timeout_s=0.2, absent_grace_s=0.3, resolve_backoff_s=0.01)
    with Journal(w.path) as j:
        saga = (await w.executor(j, config=cfg).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.COMPLETED
        assert saga.orders["L1"].final is not None and saga.orders["L1"].final.source == "query"
        await assert_consistent(w, j)


async def test_rejected_leg2_leads_to_a_hedge(w: World) -> None:
    w.kalshi.faults = ["reject"]
    with Journal(w.path) as j:
        saga = (await w.executor(j).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.HEDGED
        l2 = saga.orders["L2"].final
        assert l2 is not None and l2.source == "rejected" and "market_closed" in l2.detail
        assert saga.orders["C1"].final is not None and saga.orders["C1"].final.filled == 10 * C
        await assert_consistent(w, j)


SCENARIOS = {
    "complete": (10, 10, []),
    "hedge": (7, 10, []),
    "unwind": (0, 10, ["reject", "reject", "reject"]),
    "timeouts": (10, 10, ["timeout_after"]),
}


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_a_crash_at_every_journal_write_recovers_to_a_consistent_state(
    tmp_path: Path, scenario: str, when: str
) -> None:
    """Kill the executor at each commit boundary in turn; recovery must end every saga with no
    duplicate order and journal positions equal to venue positions."""
    k_depth, p_depth, k_faults = SCENARIOS[scenario]
    crashes = 0
    for k in range(1, 40):
        wd = world(tmp_path / f"{k}", k_depth=k_depth, p_depth=p_depth)
        (tmp_path / f"{k}").mkdir()
        wd.kalshi.faults = list(k_faults)

        def die(n: int, k: int = k) -> None:
            if n == k:
                raise Crash(n)

        j = Journal(wd.path)
        setattr(j, f"{when}_commit", die)
        try:
            await wd.executor(j).submit(opportunity())
        except Crash:
            crashes += 1
        else:
            j.close()
            break
        j.close()
        with Journal(wd.path) as j2:
            report = await recover(wd.executor(j2))
            assert not report.errors
            for sid in j2.saga_ids():
                saga: Saga = j2.load(sid)
                assert saga.terminal, saga.describe()
            await assert_consistent(wd, j2)
        await wd.kalshi.close()
        await wd.poly.close()
    assert crashes >= 5


async def test_risk_manager_journals_rejections_and_kill_switch_cancels_orders(w: World) -> None:
    with Journal(w.path) as j:
        book = RiskBook(RiskLimits(max_hedge_failures=1))
        rm = RiskManager(book, w.clients, {PAIR.name: PAIR}, journal=j)
        await rm.refresh_balances()
        ex = w.executor(j, risk=rm)
        assert (await ex.submit(opportunity())).saga is not None
        assert book.reservations == {} and book.held_pair == {"FED": 10 * C}
        # a resting order of ours that the switch must cancel
        await w.kalshi.place_order(OrderRequest(K, Outcome.YES, Action.BUY, 3000, C, "manual-1",  # type: ignore[arg-type]
                                                TimeInForce.GTC))
        assert len(await w.kalshi.open_orders()) == 1
        assert await rm.kill("operator") == 1
        assert await w.kalshi.open_orders() == []
        refused = await ex.submit(opportunity())
        assert refused.saga is None and refused.risk is not None
        assert refused.risk.reason is Reason.KILL_SWITCH
        assert [k for _, k, _ in j.logs()] == ["kill_switch", "risk_reject"]
        rm.reset()
        assert book.killed is None


async def test_repeated_hedge_failures_trip_the_switch_automatically(tmp_path: Path) -> None:
    wd = world(tmp_path, k_depth=0)
    wd.kalshi.faults = ["reject"] * 9
    wd.poly.books[(NO_TOKEN, Outcome.NO)].cancel("mk2", 0)  # nobody to unwind into either
    with Journal(wd.path) as j:
        book = RiskBook(RiskLimits(max_hedge_failures=1, require_balance=False))
        rm = RiskManager(book, wd.clients, {PAIR.name: PAIR}, journal=j)
        saga = (await wd.executor(j, risk=rm).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.FAILED
        assert book.killed is not None and "hedge failures" in book.killed
        assert (await wd.executor(j, risk=rm).submit(opportunity())).risk is not None
        await assert_consistent(wd, j)  # even a failed saga's residual is known to the journal


async def test_reconciliation_reports_positions_the_journal_does_not_know(w: World) -> None:
    alerts = []
    with Journal(w.path) as j:
        await w.executor(j).submit(opportunity())
        w.poly.holdings[(NO_TOKEN, Outcome.NO)] += 2 * C  # e.g. a manual trade on the account
        report = await reconcile(j, w.clients, alert=alerts.append)
        assert not report.clean and alerts == [report]
        (diff,) = report.differences
        assert (diff.venue, diff.market) == ("polymarket", NO_TOKEN)
        assert (diff.journal, diff.venue_size) == (10 * C, 12 * C)
        assert [k for _, k, _ in j.logs()] == ["reconcile_mismatch"]


async def test_a_venue_refusing_the_credentials_is_named_by_reconciliation(
        w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 401 on a read is a finding like any unreadable venue (the round is not clean), and the
    report names the venue whose credentials were refused; other failures name none."""
    async def refused(*_a: object) -> None:
        raise AuthError("NOT_FOUND", "unknown API key", 401)

    async def down(*_a: object) -> None:
        raise VenueError("UNAVAILABLE", "503", 503)

    with Journal(w.path) as j:
        monkeypatch.setattr(w.poly, "positions", refused)
        monkeypatch.setattr(w.poly, "open_orders", refused)
        report = await reconcile(j, w.clients, orders=True)
        assert not report.clean and report.refused == ["polymarket"]
        assert any("polymarket: positions unavailable" in e for e in report.errors)
        monkeypatch.setattr(w.poly, "positions", down)
        monkeypatch.setattr(w.poly, "open_orders", down)
        report = await reconcile(j, w.clients, orders=True)
        assert not report.clean and report.refused == []


async def test_concurrent_sagas_share_capital_through_reservations(tmp_path: Path) -> None:
    import asyncio

    wd = world(tmp_path, k_depth=50, p_depth=50)
    with Journal(wd.path) as j:
        book = RiskBook(RiskLimits(max_open_sagas=10))
        rm = RiskManager(book, wd.clients, {PAIR.name: PAIR}, journal=j)
        book.set_balance("kalshi", 100 * 10**10)
        book.set_balance("polymarket", 12 * 10**10)  # room for two sagas of $5.50, not three
        ex = wd.executor(j, risk=rm)
        results = await asyncio.gather(*(ex.submit(opportunity()) for _ in range(3)))
        started = [r for r in results if r.saga is not None]
        refused = [r for r in results if r.saga is None]
        assert len(started) == 2 and len(refused) == 1
        assert refused[0].risk is not None and refused[0].risk.reason is Reason.BALANCE
        assert all(r.saga is not None and r.saga.ending is Ending.COMPLETED for r in started)
        assert book.reservations == {}
        await assert_consistent(wd, j)


async def test_reconcile_job_keeps_alerting_until_stopped(w: World) -> None:
    import asyncio

    from arbiter.execution.reconcile import ReconcileJob

    alerts = []
    with Journal(w.path) as j:
        w.kalshi.holdings[(K, Outcome.YES)] += C  # the venue holds a contract the journal lacks
        job = ReconcileJob(j, w.clients, interval_s=0.01, alert=alerts.append)
        job.start()
        while job.runs < 3:
            await asyncio.sleep(0.005)
        await job.stop()
        assert len(alerts) >= 3 and job.last is not None and not job.last.clean
        runs = job.runs
        await asyncio.sleep(0.03)
        assert job.runs == runs  # stopped means stopped


async def test_overlapping_reconcile_rounds_end_in_the_order_they_began(w: World) -> None:
    """A slow round that read the venue before a difference was resolved must not overwrite
    the verdict of a round begun after it (the CI failure of stop 16: a scheduled recheck and
    an operator's round overlapped, and the stale mismatch won)."""
    import asyncio

    from arbiter.execution.reconcile import ReconcileJob

    read, release = asyncio.Event(), asyncio.Event()
    real = w.kalshi.positions

    async def slow_first_read() -> list[PositionReport]:
        out = await real()
        if not read.is_set():
            read.set()
            await release.wait()  # the venue answered; the answer is slow to come back
        return out

    w.kalshi.positions = slow_first_read  # type: ignore[method-assign]
    with Journal(w.path) as j:
        w.kalshi.holdings[(K, Outcome.YES)] += C  # an unknown contract ...
        job = ReconcileJob(j, w.clients)
        older = asyncio.create_task(job.run_once())
        await read.wait()
        w.kalshi.holdings[(K, Outcome.YES)] -= C  # ... that someone then closes
        newer = asyncio.create_task(job.run_once())
        await asyncio.sleep(0.01)
        assert not newer.done()  # it waits for the round already running
        release.set()
        first, second = await older, await newer
        assert first is not None and not first.clean
        assert second is not None and second.clean
        assert job.blocking is None and job.last is second and job.runs == 2


async def test_nothing_is_reserved_or_journaled_for_an_unusable_opportunity(w: World) -> None:
    with Journal(w.path) as j:
        book = RiskBook(RiskLimits(require_balance=False))
        rm = RiskManager(book, w.clients, {PAIR.name: PAIR}, journal=j)
        ex = SagaExecutor(j, {"kalshi": w.kalshi}, {PAIR.name: PAIR}, risk=rm, config=FAST)
        with pytest.raises(KeyError):
            await ex.submit(opportunity())  # no Polymarket client
        ex = w.executor(j, risk=rm)

        def broken(n: int) -> None:
            raise OSError("disk full")

        j.before_commit = broken
        with pytest.raises(OSError):
            await ex.submit(opportunity())
        assert book.reservations == {} and j.saga_ids() == []
        assert not w.kalshi.submissions and not w.poly.submissions


class FlakyProjection(Journal):
    """A real journal whose first SQLite projection after a tick-path start fails (disk full,
    locked file): the append before it already made the start durable."""

    failed = False

    def flush(self) -> None:
        if not self.failed and self._pending:
            self.failed = True
            raise OSError("projection failed")
        super().flush()


async def test_a_failed_projection_after_leg_1_left_does_not_lose_the_saga(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    with FlakyProjection(w.path) as j:
        result = await w.executor(j).submit(opportunity())
        assert j.failed and "journal projection of" in caplog.text
        saga = result.saga
        assert saga is not None and saga.ending is Ending.COMPLETED
        assert j.load(saga.saga_id).ending is Ending.COMPLETED  # the next write projected it
        await assert_consistent(w, j)


def _books_like(wd: World) -> Detector:
    """The arbiter's view of the two venues of ``wd``: detector books fed the same levels."""
    det = Detector([PAIR], DetectionConfig())
    kbook = det.kalshi_book(K)
    kbook.apply_snapshot(yes=[(3800, 50 * C)], no=[], ts_ns=1)  # YES bids only: no YES ask
    det.token_book(NO_TOKEN).apply_snapshot(bids=[(5400, 50 * C)], asks=[(5500, 10 * C)], ts_ns=1)
    return det


async def test_hedges_in_the_engine_price_from_the_arbiters_books(tmp_path: Path) -> None:
    """Without quotes a hedge would try to complete at a worse tick each attempt; with the
    detector's books (what the arbiter wires in) the missing Kalshi ask makes completing
    unlikely, so it unwinds at once."""
    wd = world(tmp_path, k_depth=0)
    wd.kalshi.books[(K, Outcome.YES)].cancel("mk1", 0)
    quotes = BookQuotes(_books_like(wd))
    assert quotes.now("kalshi", K, Outcome.YES) == (3800, None)
    assert quotes.now("polymarket", NO_TOKEN, Outcome.NO) == (5400, 5500)
    assert quotes.now("kalshi", "KX-UNKNOWN", Outcome.YES) is None
    unsynced = Detector([PAIR], DetectionConfig())  # feeds not up yet: unknown, not empty
    assert BookQuotes(unsynced).now("kalshi", K, Outcome.YES) is None
    assert BookQuotes(unsynced).now("polymarket", NO_TOKEN, Outcome.NO) is None
    with Journal(wd.path) as j:
        executor = SagaExecutor(j, wd.clients, {PAIR.name: PAIR}, config=FAST,  # type: ignore[arg-type]
                                quotes=quotes)
        saga = (await executor.submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.UNWOUND
        decisions = [b["decision"] for k, b in j.raw_events(saga.saga_id) if k == "decided"]
        assert len(decisions) == 1 and decisions[0]["choice"] == "unwind"
        assert decisions[0]["complete"]["likely"] is False
        await assert_consistent(wd, j)
