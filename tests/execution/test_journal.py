"""The SQLite journal: WAL + synchronous=FULL, write-ahead ordering, replay, projections."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arbiter.core.book import Outcome
from arbiter.core.risk import Reservation
from arbiter.core.saga import OrderFinal, PlaceOrder, ResolveOrder, Saga, SagaError, Started, plan_saga
from arbiter.execution.journal import Journal, JournalError
from tests.execution.factories import PAIR, C, opportunity


class Crash(BaseException):
    """Stands in for the process dying at a commit boundary."""


def start(journal: Journal) -> Saga:
    sid = journal.new_saga_id()
    plan = plan_saga(sid, opportunity(), PAIR)
    return journal.start(Started(plan, 1), Reservation(sid, "FED", 10 * C, {"kalshi": 5}, 1))


def test_pragmas_are_wal_and_full_sync(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        assert j._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(JournalError):
        Journal(tmp_path / "k.db", synchronous="OFF")


def test_saga_survives_reopen_with_projections(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        token = j.token
        saga = start(j)
        cmd = saga.next_command(2)
        assert isinstance(cmd, PlaceOrder)
        j.record(saga, cmd.intent)
        j.record(saga, OrderFinal("L1", "o1", "filled", 10 * C, 5500 * 10 * C, 7, "ack", "", 3))
        sid = saga.saga_id
    with Journal(path) as j:
        assert j.token == token and j.unfinished() == [sid]
        again = j.load(sid)
        assert again.state is saga.state and again.describe() == saga.describe()
        assert j.reservation(sid) == Reservation(sid, "FED", 10 * C, {"kalshi": 5}, 1)
        (row,) = j.orders()
        cid = saga.orders["L1"].intent.cid
        assert (row.cid, row.state, row.filled, row.fees) == (cid, "final", 10 * C, 7)
        assert j.position_sizes() == {("polymarket", "2222", Outcome.NO): 10 * C}
        assert j.new_saga_id() != sid  # the sequence continues after a restart
        assert j.endings() == {"unfinished": 1}


def test_a_crash_before_commit_leaves_nothing_and_after_commit_everything(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(path)
    saga = start(j)
    cmd = saga.next_command(2)
    assert isinstance(cmd, PlaceOrder)

    def die(n: int) -> None:
        raise Crash(n)

    j.before_commit = die
    with pytest.raises(Crash):
        j.record(saga, cmd.intent)
    j.close()
    with Journal(path) as j2:
        assert j2.orders() == []  # rolled back: the intent never became durable
        assert isinstance(j2.load(saga.saga_id).next_command(3), PlaceOrder)
        j2.after_commit = die
        fresh = j2.load(saga.saga_id)
        with pytest.raises(Crash):
            j2.record(fresh, cmd.intent)
    with Journal(path) as j3:
        replayed = j3.load(saga.saga_id)
        assert isinstance(replayed.next_command(4), ResolveOrder)  # durable: must be looked up


def test_invalid_events_never_reach_the_journal(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        saga = start(j)
        with pytest.raises(SagaError):
            j.record(saga, OrderFinal("L1", "o", "filled", 1, 1, 0, "ack", "", 1))
        assert len(j.raw_events(saga.saga_id)) == 1
        with pytest.raises(JournalError):
            j.record(saga, Started(saga.plan, 1))
        with pytest.raises(JournalError):
            j.load("nope-1")


def test_log_records_are_kept_in_order(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        j.log("risk_reject", {"reason": "balance"}, 5)
        j.log("kill_switch", {"reason": "x"}, 6)
        assert [k for _, k, _ in j.logs()] == ["risk_reject", "kill_switch"]
        assert list(j.logs("kill_switch")) == [(6, "kill_switch", {"reason": "x"})]
        # the file is a plain SQLite database an operator can open
        assert sqlite3.connect(j.path).execute("SELECT COUNT(*) FROM log").fetchone()[0] == 2


def test_intents_mode_fsyncs_intents_only(tmp_path: Path) -> None:
    seen: list[int] = []
    with Journal(tmp_path / "j.db", synchronous="intents") as j:
        assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        saga = start(j)
        j.before_commit = lambda n: seen.append(j._db.execute("PRAGMA synchronous").fetchone()[0])
        cmd = saga.next_command(2)
        assert isinstance(cmd, PlaceOrder)
        j.record(saga, cmd.intent)
        j.record(saga, OrderFinal("L1", "o1", "canceled", 0, 0, 0, "ack", "", 3))
        assert seen == [2, 1]  # FULL for the intent, NORMAL for the answer
        assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_a_reservation_on_a_collateral_shard_survives_reopen(tmp_path: Path) -> None:
    """Kalshi collateral is per exchange shard (ADR 0111): a recovered saga holds its shard."""
    path = tmp_path / "j.db"
    held = {"kalshi#1": 40_000 * C}
    with Journal(path) as j:
        sid = j.new_saga_id()
        j.start(Started(plan_saga(sid, opportunity(), PAIR), 1),
                Reservation(sid, "FED", 10 * C, {"kalshi": 40_000 * C}, 1, held))
    with Journal(path) as j:
        assert j.reservation(sid) == Reservation(sid, "FED", 10 * C, {"kalshi": 40_000 * C}, 1,
                                                 held)
