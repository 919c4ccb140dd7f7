"""The intent log: a saga start is one checksummed append before the send; SQLite follows.

A crash between the append and the projection is a real process that exits without flushing
(``os._exit`` right after ``start`` returns), so what survives is what a killed executor leaves.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from arbiter.core.risk import Reservation
from arbiter.core.saga import Intent, OrderFinal, PlaceOrder, Saga, SagaState, Started, plan_saga
from arbiter.execution.journal import INTENT_LOG_SUFFIX, Journal, JournalError
from tests.execution.factories import PAIR, C, opportunity

ROOT = Path(__file__).resolve().parents[2]

#: starts ``n`` sagas with their leg-1 intents, flushes all but the last, then dies unflushed
CHILD = """
import json, os, sys
from arbiter.core.risk import Reservation
from arbiter.core.saga import PlaceOrder, Saga, Started, plan_saga
from arbiter.execution.journal import Journal
from tests.execution.factories import PAIR, C, opportunity

path, mode, n, limit, tenant = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
j = Journal(path, synchronous=mode, intent_log_limit=limit, tenant=tenant or None)
ids = []
for i in range(n):
    sid = j.new_saga_id()
    plan = plan_saga(sid, opportunity(), PAIR)
    cmd = Saga(plan).next_command(2)
    assert isinstance(cmd, PlaceOrder)
    j.start(Started(plan, 1), Reservation(sid, "FED", 10 * C, {"kalshi": 5}, 1), cmd.intent)
    if i < n - 1:
        j.flush()
    ids.append(sid)
sys.stdout.write(json.dumps(ids))
sys.stdout.flush()
os._exit(0)  # dies here: the last start is in the intent log only
"""


def crash_after_start(
    path: Path, n: int = 1, mode: str = "FULL", limit: int = 1 << 20, tenant: str = ""
) -> list[str]:
    """Saga ids a child process started before it died without projecting the last one."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode, str(n), str(limit), tenant],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    ids = json.loads(out.stdout)
    assert isinstance(ids, list)
    return [str(i) for i in ids]


def expected(sid: str) -> tuple[Started, Intent, Saga]:
    """What ``CHILD`` journaled for ``sid`` (the plan and intent are pure functions of it)."""
    plan = plan_saga(sid, opportunity(), PAIR)
    saga = Saga(plan)
    cmd = saga.next_command(2)
    assert isinstance(cmd, PlaceOrder)
    saga.apply(cmd.intent)
    return Started(plan, 1), cmd.intent, saga


def begin(j: Journal) -> tuple[Saga, Intent]:
    sid = j.new_saga_id()
    plan = plan_saga(sid, opportunity(), PAIR)
    cmd = Saga(plan).next_command(2)
    assert isinstance(cmd, PlaceOrder)
    res = Reservation(sid, "FED", 10 * C, {"kalshi": 5}, 1)
    return j.start(Started(plan, 1), res, cmd.intent), cmd.intent


def sql(path: Path, query: str) -> list[tuple[object, ...]]:
    """Read the SQLite file directly, as an operator would (no replay, no flush)."""
    db = sqlite3.connect(path)
    try:
        return list(db.execute(query).fetchall())
    finally:
        db.close()


def log_of(path: Path) -> Path:
    return Path(f"{path}{INTENT_LOG_SUFFIX}")


@pytest.mark.parametrize("mode", ["FULL", "INTENTS", "NORMAL"])
def test_a_crash_between_append_and_projection_replays_the_start(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "j.db"
    (sid,) = crash_after_start(path, mode=mode)
    assert sql(path, "SELECT COUNT(*) FROM sagas") == [(0,)]  # the child never projected it
    assert log_of(path).stat().st_size > 0
    started, intent, saga = expected(sid)
    with Journal(path, synchronous=mode) as j:
        assert j.saga_ids() == [sid] and j.unfinished() == [sid]
        loaded = j.load(sid)
        assert loaded.describe() == saga.describe() and loaded.state is SagaState.LEG1_SUBMITTED
        pending = loaded.pending()
        assert pending is not None and pending.intent == intent  # recovery must look it up
        (order,) = j.orders()
        assert (order.cid, order.state, order.size) == (intent.cid, "pending", intent.size)
        assert j.reservation(sid) == Reservation(sid, "FED", 10 * C, {"kalshi": 5}, 1)
        assert j.raw_events(sid) == [("started", started.to_dict()), ("intent", intent.to_dict())]
        assert j.new_saga_id().endswith("-2")  # the sequence counts the replayed saga
    # the replayed rows are now ordinary, durable SQLite rows
    assert sql(path, "SELECT saga_id, state FROM sagas") == [(sid, "leg1_submitted")]


def test_replayed_rows_equal_the_rows_of_a_flush(tmp_path: Path) -> None:
    crashed = tmp_path / "crashed.db"
    (sid,) = crash_after_start(crashed)
    live = tmp_path / "live.db"
    with Journal(live) as j:  # the same saga, projected by the owner right after the append
        started, intent, _ = expected(sid)
        j.start(started, Reservation(sid, "FED", 10 * C, {"kalshi": 5}, 1), intent)
        j.flush()
    Journal(crashed).close()
    for query in (
        "SELECT * FROM sagas",
        "SELECT saga_id, kind, body, ts_ns, tenant FROM events ORDER BY id",
        "SELECT * FROM orders",
    ):
        assert sql(crashed, query) == sql(live, query)


def test_the_start_is_appended_once_and_sqlite_follows_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    seen: list[tuple[str, int, int, int]] = []

    def hook(name: str) -> Callable[[int], None]:
        def call(n: int) -> None:
            rows = sql(path, "SELECT COUNT(*) FROM sagas")[0][0]
            assert isinstance(rows, int)
            seen.append((name, n, log_of(path).stat().st_size, rows))
        return call

    with Journal(path, before_commit=hook("before"), after_commit=hook("after")) as j:
        saga, _ = begin(j)
        size = log_of(path).stat().st_size
        # nothing in the log before the write; the record (and still no SQLite row) after it
        assert seen == [("before", 1, 0, 0), ("after", 1, size, 0)]
        j.flush()
        assert j.writes == 1 and len(seen) == 2  # a projection repeats a write, it is none
        assert sql(path, "SELECT saga_id FROM sagas") == [(saga.saga_id,)]
        j.flush()  # nothing left to project
        j.record(saga, OrderFinal("L1", "o1", "canceled", 0, 0, 0, "ack", "", 3))
        assert [s[:2] for s in seen[2:]] == [("before", 2), ("after", 2)]
        assert log_of(path).stat().st_size == size  # only starts with an intent are appended


def test_every_read_and_write_projects_first(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path, tenant="alice") as j:
        reads: list[Callable[[], object]] = [
            lambda: j.saga_ids(), lambda: j.unfinished(), lambda: j.orders(), lambda: j.endings(),
            lambda: j.tenants(), lambda: list(j.logs()), lambda: j.positions(),
            lambda: j.position_sizes(),
        ]
        for read in reads:
            saga, _ = begin(j)
            assert sql(path, f"SELECT COUNT(*) FROM sagas WHERE saga_id = '{saga.saga_id}'") == [(0,)]
            read()
            assert sql(path, f"SELECT COUNT(*) FROM sagas WHERE saga_id = '{saga.saga_id}'") == [(1,)]
        for per_saga in (j.events, j.raw_events, j.load, j.reservation):
            saga, _ = begin(j)
            per_saga(saga.saga_id)
            assert saga.saga_id in sql_ids(path)
        saga, _ = begin(j)
        j.log("kill_switch", {"on": True}, 5)  # any write projects before itself
        assert saga.saga_id in sql_ids(path)
        saga, _ = begin(j)
        j.record(saga, OrderFinal("L1", "o1", "canceled", 0, 0, 0, "ack", "", 3))
        kinds = sql(path, f"SELECT kind FROM events WHERE saga_id = '{saga.saga_id}' ORDER BY id")
        assert kinds == [("started",), ("intent",), ("final",)]  # after its start rows
        assert j.tenants() == {t: {"alice"} for t in ("sagas", "events", "orders", "log")}


def sql_ids(path: Path) -> set[object]:
    return {r[0] for r in sql(path, "SELECT saga_id FROM sagas")}


def test_a_start_without_an_intent_is_one_transaction_and_no_record(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        sid = j.new_saga_id()
        j.start(Started(plan_saga(sid, opportunity(), PAIR), 1))
        assert j.writes == 1 and sql_ids(path) == {sid}
        assert log_of(path).stat().st_size == 0


def test_close_projects_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(path)
    saga, _ = begin(j)
    j.close()
    j.close()  # idempotent
    assert sql_ids(path) == {saga.saga_id}


def test_a_torn_last_record_is_dropped_and_cut_off_by_the_next_owner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j.db"
    first, second = crash_after_start(path, n=2)
    data = log_of(path).read_bytes()
    cut = data.index(b"\n") + 1 + (len(data) - data.index(b"\n")) // 2
    log_of(path).write_bytes(data[:cut])  # the second append was torn by the crash
    with caplog.at_level(logging.WARNING, logger="arbiter.execution.journal"), Journal(path) as j:
        assert j.saga_ids() == [first]  # the torn one was never acknowledged, never sent
        assert "torn last record" in caplog.text
        assert j.unfinished() == [first]  # the intact one awaits recovery
        third, _ = begin(j)  # the new owner writes after the intact prefix, not after the tear
    assert log_of(path).read_bytes().startswith(data[: data.index(b"\n") + 1])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="arbiter.execution.journal"), Journal(path) as j:
        assert j.saga_ids() == [first, third.saga_id]
        # the torn saga's id is free again: its start never returned, so nothing was sent
        assert third.saga_id == second and j.load(second).describe() == third.describe()
        assert "torn" not in caplog.text


def test_a_damaged_last_line_is_dropped_but_a_damaged_middle_line_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        begin(j)
        begin(j)
    lines = log_of(path).read_bytes().splitlines(keepends=True)
    assert len(lines) == 2

    def flip(line: bytes) -> bytes:
        i = len(line) // 2
        return line[:i] + bytes([line[i] ^ 0x01]) + line[i + 1:]

    log_of(path).write_bytes(lines[0] + flip(lines[1]))
    with Journal(path) as j:
        assert len(j.saga_ids()) == 2  # its saga is in SQLite anyway; the line is ignored
    log_of(path).write_bytes(flip(lines[0]) + lines[1])
    with pytest.raises(JournalError, match="cannot be trusted"):
        Journal(path)
    log_of(path).write_bytes(b"garbage\n" + lines[0] + lines[1])
    with pytest.raises(JournalError, match="cannot be trusted"):
        Journal(path)


def test_an_intact_record_of_unknown_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(path).close()
    for payload in (b'{"v":99}', b'{"v":1,"started":{}}', b"[1]"):
        log_of(path).write_bytes(b"%08x %b\n" % (zlib.crc32(payload), payload))
        with pytest.raises(JournalError):
            Journal(path)


def test_a_record_of_another_tenant_is_refused(tmp_path: Path) -> None:
    alice = tmp_path / "alice.db"
    with Journal(alice, tenant="alice") as j:
        begin(j)
    bob = tmp_path / "bob.db"
    Journal(bob, tenant="bob").close()
    log_of(bob).write_bytes(log_of(alice).read_bytes())
    with pytest.raises(JournalError, match="tenant 'alice'"):
        Journal(bob, tenant="bob")
    with pytest.raises(JournalError, match="tenant 'alice'"):
        Journal(bob, synchronous="NORMAL")  # an unbound reader checks the file's own tenant
    with Journal(alice, synchronous="NORMAL") as reader:  # the right tenant's reader is fine
        assert len(reader.saga_ids()) == 1


def test_a_crashed_tenant_start_replays_with_its_tenant(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    (sid,) = crash_after_start(path, tenant="carol")
    with Journal(path, synchronous="NORMAL") as reader:  # unbound, like the actors' summary
        assert reader.unfinished() == [sid]
        assert reader.tenants() == {t: {"carol"} for t in ("sagas", "events", "orders")} | {
            "log": set()}
    with pytest.raises(JournalError):
        Journal(path, tenant="dave")


def test_replay_is_idempotent_across_opens_and_instances(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    (sid,) = crash_after_start(path)
    for _ in range(2):
        Journal(path).close()
    owner = Journal(path)
    saga, _ = begin(owner)  # appended, not projected
    reader = Journal(path, synchronous="NORMAL")  # opened by another process meanwhile
    assert reader.saga_ids() == [sid, saga.saga_id]  # the reader projected the owner's record
    owner.flush()  # finds it there: no IntegrityError, no second copy
    owner.record(saga, OrderFinal("L1", "o1", "canceled", 0, 0, 0, "ack", "", 3))
    reader.close()
    owner.close()
    Journal(path).close()
    assert sql(path, "SELECT COUNT(*), COUNT(DISTINCT saga_id) FROM sagas") == [(2, 2)]
    assert sql(path, "SELECT kind, COUNT(*) FROM events GROUP BY saga_id, kind ORDER BY 1") == [
        ("final", 1), ("intent", 1), ("intent", 1), ("started", 1), ("started", 1)]
    assert sql(path, "SELECT COUNT(*) FROM orders") == [(2,)]
    with Journal(path) as j:
        assert j.load(saga.saga_id).orders["L1"].state == "final"


def test_the_owner_truncates_past_the_limit_and_later_records_still_replay(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path, intent_log_limit=1) as j:
        begin(j)
        size = log_of(path).stat().st_size
        assert size > 1
        j.flush()  # past the limit: SQLite made durable, the log emptied
        assert log_of(path).stat().st_size == 0
    with Journal(path, intent_log_limit=4 * size) as j:
        for _ in range(3):
            begin(j)
            j.flush()
        assert log_of(path).stat().st_size == 3 * size  # below the limit: kept
        begin(j)
        begin(j)
        j.flush()
        assert log_of(path).stat().st_size == 0
    # the child flushes (and truncates) after each start but dies before projecting the last
    ids = crash_after_start(path, n=3, limit=1)
    assert log_of(path).stat().st_size == size and len(sql_ids(path)) == 8
    with Journal(path) as j:
        assert j.saga_ids()[-3:] == ids and len(j.saga_ids()) == 9
        assert j.unfinished()[-1] == ids[-1]


def test_a_reader_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        begin(j)
    size = log_of(path).stat().st_size
    with Journal(path, synchronous="NORMAL", intent_log_limit=1) as reader:
        reader.flush()
        reader.log("summary", {}, 1)
        assert reader.saga_ids()
    assert log_of(path).stat().st_size == size


def test_a_failing_hook_before_the_append_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.db"

    class Crash(BaseException):
        pass

    def die(n: int) -> None:
        raise Crash(n)

    j = Journal(path, before_commit=die)
    with pytest.raises(Crash):
        begin(j)
    j.close()
    assert log_of(path).stat().st_size == 0
    with Journal(path) as again:
        assert again.saga_ids() == []
    j = Journal(path, after_commit=die)
    with pytest.raises(Crash):
        begin(j)
    # the process is "dead" here: another instance (as after a restart) finds the saga
    with Journal(path, synchronous="NORMAL") as reader:
        (sid,) = reader.unfinished()
        assert reader.load(sid).pending() is not None
    j.close()  # a surviving owner's close finds it projected already
    assert sql(path, "SELECT COUNT(*) FROM sagas") == [(1,)]


def test_an_in_memory_journal_keeps_no_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a log would land in the working directory
    with Journal(":memory:", synchronous="NORMAL") as j:
        saga, _ = begin(j)
        assert j.writes == 1 and j.saga_ids() == [saga.saga_id]
    assert list(tmp_path.iterdir()) == []


def test_a_log_that_outlived_its_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    crash_after_start(path)
    for leftover in tmp_path.glob("j.db*"):
        if leftover != log_of(path):
            leftover.unlink()  # the database is gone, its intent log is not
    with pytest.raises(JournalError, match="database was replaced"):
        Journal(path)


def test_wal_checkpoints_run_on_their_own_thread_not_in_commits(tmp_path: Path) -> None:
    """The writer's commits never checkpoint (a multi-ms copy on the tick path); the background
    thread moves the WAL into the database, and closing stops it."""
    path = tmp_path / "ckpt.sqlite"
    journal = Journal(path, synchronous="NORMAL")
    try:
        journal.checkpoint_in_background(interval_s=0.05)
        row = journal._db.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert row[0] == 0
        for i in range(1_500):  # ~1,500 WAL frames: past SQLite's own 1,000-page checkpoint
            journal.log("note", {"i": i, "pad": "x" * 600}, i)
        deadline = time.monotonic() + 10
        while journal.last_checkpoint[1] < 1_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert journal.last_checkpoint[1] >= 1_000
        assert [t.name for t in threading.enumerate()].count("journal-checkpoint") == 1
    finally:
        journal.close()
    assert "journal-checkpoint" not in [t.name for t in threading.enumerate()]
    with Journal(path) as again:  # nothing lost by moving the pages
        assert len(list(again.logs("note"))) == 1_500


def test_start_takes_the_callers_fresh_saga_and_refuses_a_used_one(tmp_path: Path) -> None:
    plan = plan_saga("abcd1234-1", opportunity(), PAIR)
    fresh = Saga(plan)
    command = fresh.next_command(5)
    assert isinstance(command, PlaceOrder)
    with Journal(tmp_path / "j.sqlite") as journal:
        saga = journal.start(Started(plan, 5), None, command.intent, saga=fresh)
        assert saga is fresh and saga.orders["L1"].intent == command.intent
        with pytest.raises(JournalError, match="fresh saga"):
            journal.start(Started(plan, 6), None, command.intent, saga=fresh)
        assert journal.load(plan.saga_id).orders["L1"].intent == command.intent
