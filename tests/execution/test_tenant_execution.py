"""Tenancy on the execution path: journal rows carry the tenant, the tier caps the risk book."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arbiter.core.accounts import UserContext, apply_tier
from arbiter.core.risk import Reason, RiskBook, RiskLimits
from arbiter.core.saga import Ending
from arbiter.execution import journal as journal_mod
from arbiter.execution.journal import Journal, JournalError
from arbiter.execution.risk_manager import RiskManager
from tests.execution.factories import PAIR, C, opportunity
from tests.execution.test_executor import World, world

TABLES = ("sagas", "events", "orders", "log")


def tenant_column(path: Path) -> dict[str, set[str | None]]:
    """Read the files with plain SQL, as an operator would, not through the Journal class."""
    with sqlite3.connect(str(path)) as db:
        return {t: {r[0] for r in db.execute(f"SELECT tenant FROM {t}")} for t in TABLES}


async def close(wd: World) -> None:
    await wd.kalshi.close()
    await wd.poly.close()


async def test_every_journal_row_carries_the_executors_tenant(tmp_path: Path) -> None:
    wd = world(tmp_path)
    alice = UserContext.for_tier("alice", "pro")
    with Journal(wd.path) as j:
        book = RiskBook(apply_tier(RiskLimits(), alice))
        rm = RiskManager(book, wd.clients, {PAIR.name: PAIR}, journal=j)
        await rm.refresh_balances()
        ex = wd.executor(j, risk=rm, user=alice)
        assert ex.user == alice and j.tenant == "alice"
        saga = (await ex.submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.COMPLETED
        await rm.kill("operator")  # writes a log row
        assert j.tenants() == {t: {"alice"} for t in TABLES}
    counts = tenant_column(wd.path)
    assert counts == {t: {"alice"} for t in TABLES}
    with Journal(wd.path) as j:  # the file remembers whose it is
        with pytest.raises(JournalError, match="belongs to tenant 'alice'"):
            j.bind_tenant("bob")
        with pytest.raises(JournalError):
            wd.executor(j, user=UserContext.for_tier("bob", "pro"))
    with pytest.raises(JournalError):
        Journal(wd.path, tenant="bob")
    await close(wd)


async def test_a_journal_written_before_the_tenant_column_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(str(path)) as db:  # the pre-tenancy schema, with a row in it
        db.executescript(journal_mod._SCHEMA)
        db.execute("INSERT INTO log (ts_ns, kind, body) VALUES (1, 'old', '{}')")
        assert "tenant" not in {r[1] for r in db.execute("PRAGMA table_info(log)")}
    wd = world(tmp_path)
    with Journal(path, tenant="carol") as j:
        saga = (await wd.executor(j).submit(opportunity())).saga
        assert saga is not None and saga.ending is Ending.COMPLETED
        assert [k for _, k, _ in j.logs()] == ["old"]
        assert j.load(saga.saga_id).ending is Ending.COMPLETED
    cols = tenant_column(path)
    assert cols["log"] == {None}  # old rows stay unattributed rather than guessed
    assert cols["sagas"] == cols["events"] == cols["orders"] == {"carol"}
    with Journal(path) as j:  # reopening an already-migrated file is a no-op
        assert j.unfinished() == [] and j.tenant is None
    await close(wd)


async def test_a_journal_without_a_tenant_still_works(tmp_path: Path) -> None:
    wd = world(tmp_path)
    with Journal(wd.path) as j:
        assert (await wd.executor(j).submit(opportunity())).saga is not None
    assert tenant_column(wd.path)["sagas"] == {None}
    await close(wd)


async def test_a_free_tenants_open_saga_and_exposure_limits_hold(tmp_path: Path) -> None:
    wd = world(tmp_path, k_depth=2000, p_depth=2000)
    free = UserContext.for_tier("dave", "free")
    # the operator allows far more than the free tier: the tier wins
    limits = apply_tier(RiskLimits(max_open_sagas=10, max_gross_exposure=10**6 * 10**10), free)
    assert limits.max_open_sagas == 1 and limits.max_gross_exposure == free.limits.max_exposure
    book = RiskBook(limits)
    with Journal(wd.path) as j:
        rm = RiskManager(book, wd.clients, {PAIR.name: PAIR}, journal=j)
        await rm.refresh_balances()
        ex = wd.executor(j, risk=rm, user=free)
        # $0.95 a contract: 600 contracts = $570 > $500 free-tier exposure
        big = await ex.submit(opportunity(size=600))
        assert big.saga is None and big.risk is not None
        assert big.risk.reason is Reason.GROSS_EXPOSURE
        assert wd.kalshi.submissions == {} and wd.poly.submissions == {}
        # one saga open at a time: a second one while the first holds its reservation is refused
        held = book.check_and_reserve("held", opportunity(), 1_000)
        assert held.approved
        second = await ex.submit(opportunity())
        assert second.saga is None and second.risk is not None
        assert second.risk.reason is Reason.OPEN_SAGAS
        book.release("held")
        ok = await ex.submit(opportunity(size=500))  # $475 fits once nothing else is open
        assert ok.saga is not None and ok.saga.ending is Ending.COMPLETED
        assert book.held_pair == {"FED": 500 * C}
        assert {r[2]["reason"] for r in j.logs("risk_reject")} >= {"gross_exposure", "open_sagas"}
    assert tenant_column(wd.path)["log"] == {"dave"}
    await close(wd)
