"""Run summaries and ``status`` figures come from the journal, across incarnations (ADR 0172).

Two executors ("incarnations") write one journal in turn, the first dying mid-saga; the second
recovers and trades on. Each incarnation's own counts see half the story; the journal's account
since the run's start has every saga, the whole PnL and every residual.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.core.book import Outcome
from arbiter.execution.journal import Journal
from arbiter.execution.recovery import recover
from arbiter.execution.run_report import day_start, journal_summary, merge_summaries
from tests.execution.factories import C, opportunity
from tests.execution.test_executor import NO_TOKEN, Crash, world


async def test_the_journal_account_spans_incarnations_and_names_residuals(tmp_path: Path) -> None:
    w = world(tmp_path, k_depth=10, p_depth=10)
    since = time.time_ns()
    mine: list[str] = []
    with Journal(w.path) as j:  # incarnation 1: one saga completes, the second dies mid-way
        ex = w.executor(j)
        first = (await ex.submit(opportunity())).saga
        assert first is not None and first.ending is not None
        mine.append(first.ending.value)

        commits: list[int] = []

        def die(n: int) -> None:  # after leg 1's answer is durable, before leg 2
            commits.append(n)
            if len(commits) == 2:
                raise Crash(n)

        w.kalshi.books.clear()  # nothing left to complete on: the next saga cannot be closed
        w.poly.books.pop((NO_TOKEN, Outcome.NO), None)
        w.poly.add_liquidity(NO_TOKEN, Outcome.NO, "ask", 5500, 10 * C)
        j.after_commit = die
        with pytest.raises(Crash):
            await ex.submit(opportunity())
    with Journal(w.path) as j:  # incarnation 2: recovers the open saga, which fails
        report = await recover(w.executor(j))
        assert report.endings == {"failed": 1} and len(report.residuals) == 1
        account = journal_summary(j, since)
        assert account["sagas"] == {"completed": 1, "failed": 1}
        failed = j.load(j.sagas_since(since, ending="failed")[0].saga_id)
        assert first.finished is not None and failed.finished is not None
        assert account["pnl"] == first.finished.pnl + failed.finished.pnl
        (residual,) = account["residuals"]
        assert residual["market"] == NO_TOKEN and residual["contracts"] == 10 * C
        assert account["residual_contracts"] == 10 * C
        # a window after both sagas sees neither; the day sees both
        assert journal_summary(j, time.time_ns() + 1)["sagas"] == {}
        assert journal_summary(j, day_start(time.time_ns()))["sagas"] == account["sagas"]
        total = merge_summaries([account, account])
        assert total["sagas"] == {"completed": 2, "failed": 2} and len(total["residuals"]) == 2
    assert mine == ["completed"]  # incarnation 1 alone never saw the failure
    await w.kalshi.close()
    await w.poly.close()
