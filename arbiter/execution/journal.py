"""The durable execution journal: an append-only intent log plus SQLite in WAL mode.

Write-ahead is the whole point: nothing leaves the process before the record that it is about to
leave is durable. :meth:`Journal.record` applies an event to the in-memory saga (which validates
it), commits it, and only returns once the commit is durable, so the executor can perform the
side effect (send an order) strictly afterwards. With ``synchronous=FULL`` (the default;
docs/adr/0041-journal-fsync-policy.md) every commit fsyncs the WAL: a power cut after ``record``
returns cannot lose the intent. ``INTENTS`` fsyncs only order intents (and, the WAL being
sequential, everything before them) and lets acknowledgements ride on ``NORMAL``: those can be
re-learnt from the venue by client order id, an intent cannot. ``NORMAL`` survives a process
crash (kill -9) but not a power cut. Acknowledgements and fills are recorded after the fact, and
a crash between a send and its acknowledgement is exactly what recovery resolves by looking the
order up by its client order id.

The tick path is different (docs/adr/0065-intent-log-before-send.md). A new saga's start and its
leg-1 intent are one record appended with a single ``write`` (and ``fdatasync`` unless the mode
is ``NORMAL``) to ``<journal>.intents``, a checksummed line per record: that append is the
write-ahead record, a fraction of the cost of the SQLite transaction it replaces. The SQLite
rows of that record are *projections* of it, written by :meth:`Journal.flush` right after the
order is handed to its client, and before any other write or read of this journal, so nothing
ever sees SQLite without a started saga nor a later event before its saga's start rows. A crash
between append and projection loses nothing: opening a journal replays every complete record
whose saga SQLite does not have (a torn last line was never acknowledged, so its order was never
sent, and is dropped). Replay is idempotent and runs under SQLite's write lock, so a reader in
another process may open the journal while its owner has unprojected records. The owner keeps
the log short: past :attr:`Journal.intent_log_limit` bytes it makes SQLite durable and
truncates the log.

Tables: ``events`` is the source of truth (saga state = fold of its events); ``sagas`` and
``orders`` are projections maintained in the same transaction, for recovery (unfinished sagas),
reconciliation (journal positions) and operators (plain SQL, or ``load(id).describe()``).
``log`` keeps non-saga records: risk rejections, kill-switch changes, reconciliation reports.

One executor process owns a journal file at a time (the saga sequence counter is in memory).
Every row carries the ``tenant`` it was written for (``NULL`` for single-tenant use). A journal
is bound to one tenant for life (``meta.tenant``): opening it for another tenant is refused, so
one tenant's executor can never resume or extend another's sagas; an intent-log record of
another tenant makes the journal refuse to open. Files written before the column existed gain it
on open (``ALTER TABLE ... ADD COLUMN``; old rows read ``NULL``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from arbiter.core.book import Outcome
from arbiter.core.ids import make_saga_id
from arbiter.core.positions import PositionBook, PositionKey
from arbiter.core.risk import Reservation
from arbiter.core.saga import (
    Event,
    Finished,
    Intent,
    OrderFinal,
    OrderUnknown,
    Saga,
    SagaError,
    SagaState,
    Started,
    event_from_dict,
)

__all__ = ["INTENT_LOG_SUFFIX", "Journal", "JournalError", "OrderRow", "SagaRow"]

log = logging.getLogger(__name__)

#: the intent log lives beside the SQLite file: ``<journal path><suffix>``
INTENT_LOG_SUFFIX = ".intents"
#: bump when the record layout changes; an unknown version is refused, never guessed at
_RECORD_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sagas (
    seq INTEGER NOT NULL,
    saga_id TEXT PRIMARY KEY,
    pair TEXT NOT NULL,
    state TEXT NOT NULL,
    ending TEXT,
    pnl INTEGER,
    reservation TEXT,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sagas_open ON sagas (ending);
CREATE INDEX IF NOT EXISTS sagas_updated ON sagas (updated_ns);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    saga_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    ts_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_saga ON events (saga_id, id);
CREATE TABLE IF NOT EXISTS orders (
    cid TEXT PRIMARY KEY,
    saga_id TEXT NOT NULL,
    step TEXT NOT NULL,
    role TEXT NOT NULL,
    venue TEXT NOT NULL,
    market TEXT NOT NULL,
    outcome TEXT NOT NULL,
    action TEXT NOT NULL,
    price INTEGER NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    order_id TEXT,
    status TEXT,
    filled INTEGER NOT NULL DEFAULT 0,
    cost INTEGER NOT NULL DEFAULT 0,
    fees INTEGER NOT NULL DEFAULT 0,
    source TEXT,
    intent_ns INTEGER NOT NULL,
    final_ns INTEGER
);
-- every answer of an order updates its row by (saga, step): without this index each update
-- scanned the whole table, so order bookkeeping slowed down as the journal grew
CREATE INDEX IF NOT EXISTS orders_saga ON orders (saga_id, step);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_kind ON log (kind, id);
"""

#: tables whose rows are stamped with the tenant (the column is added to older files on open)
_TENANT_TABLES = ("sagas", "events", "orders", "log")

#: Called with the journal's write counter around every commit (fault tests crash here).
Hook = Callable[[int], None]


class JournalError(RuntimeError):
    """The journal cannot be trusted or written; the executor must stop."""


@dataclass(frozen=True, slots=True)
class OrderRow:
    cid: str
    saga_id: str
    step: str
    role: str
    venue: str
    market: str
    outcome: Outcome
    action: str
    price: int
    size: int
    state: str
    order_id: str | None
    status: str | None
    filled: int
    cost: int
    fees: int
    source: str | None


@dataclass(frozen=True, slots=True)
class SagaRow:
    """One saga as the ``sagas`` projection has it (run summaries read these, ADR 0172)."""

    saga_id: str
    pair: str
    state: str
    ending: str | None
    pnl: int
    created_ns: int
    updated_ns: int


#: the rows' JSON bodies: compact, keys sorted (one text per value), by msgspec as the intent
#: log's (several times faster than ``json.dumps``: every journal record writes one or two)
_BODY = msgspec.json.Encoder(order="sorted")


def _dumps(body: dict[str, Any]) -> str:
    return _BODY.encode(body).decode()


@dataclass(frozen=True, slots=True)
class _StartRecord:
    """A saga start as the intent log holds it: everything its SQLite rows are made of."""

    seq: int
    tenant: str | None
    #: the database's token (``meta.token``): a log outliving its database is not replayed
    token: str
    started: Started
    #: the reservation's fields (``sagas.reservation`` is their JSON text)
    reservation: dict[str, Any] | None
    first: Intent | None

    @property
    def saga_id(self) -> str:
        return self.started.plan.saga_id

    def encode(self) -> bytes:
        """One log line: ``crc32(payload) payload\\n``; a torn write fails the checksum."""
        body = {
            "v": _RECORD_VERSION, "saga_id": self.saga_id, "seq": self.seq, "tenant": self.tenant,
            "token": self.token, "started": self.started.to_dict(), "reservation": self.reservation,
            "first": None if self.first is None else self.first.to_dict(),
        }
        payload = msgspec.json.encode(body)  # compact JSON, ~10x faster than json (tick path)
        return b"%08x %b\n" % (zlib.crc32(payload), payload)


def _has_saga(db: sqlite3.Connection, saga_id: str) -> bool:
    return db.execute("SELECT 1 FROM sagas WHERE saga_id = ?", (saga_id,)).fetchone() is not None


def _decode(line: bytes) -> _StartRecord | None:
    """The record on ``line``, or ``None`` when its checksum says it is torn or damaged."""
    crc, sep, payload = line.partition(b" ")
    if not sep or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(payload):
            return None
    except ValueError:
        return None
    try:  # intact bytes from here on: anything unreadable is a bug or a newer writer, not a tear
        d = json.loads(payload)
        if d.get("v") != _RECORD_VERSION:
            raise JournalError(f"intent log record version {d.get('v')!r} is not supported")
        started = event_from_dict(Started.kind, d["started"])
        first = None if d["first"] is None else event_from_dict(Intent.kind, d["first"])
        if not isinstance(started, Started) or not (first is None or isinstance(first, Intent)):
            raise TypeError("not a saga start")
        tenant = d["tenant"]
        return _StartRecord(
            int(d["seq"]), None if tenant is None else str(tenant), str(d["token"]), started,
            d["reservation"], first,
        )
    except (ValueError, KeyError, TypeError, AttributeError, SagaError) as exc:
        raise JournalError(f"unreadable intent log record: {exc}") from exc


class Journal:
    """One SQLite file; every method is a short synchronous transaction."""

    #: past this many bytes the owner makes SQLite durable and empties the intent log
    intent_log_limit = 256 * 1024

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "FULL",
        before_commit: Hook | None = None,
        after_commit: Hook | None = None,
        *,
        tenant: str | None = None,
        intent_log_limit: int | None = None,
    ) -> None:
        mode = synchronous.upper()
        if mode not in ("FULL", "NORMAL", "EXTRA", "INTENTS"):
            raise JournalError(
                f"synchronous must be FULL, EXTRA, INTENTS or NORMAL, got {synchronous!r}"
            )
        self.path = Path(path)
        self.synchronous = mode
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None
        #: (frames in the WAL, frames moved into the database) at the background checkpointer's
        #: latest run
        self.last_checkpoint = (0, 0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._base_sync = "NORMAL" if mode == "INTENTS" else mode
        self._db.execute(f"PRAGMA synchronous={self._base_sync}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self.tenant: str | None = None
        if tenant is not None:
            self.bind_tenant(tenant)
        self.before_commit = before_commit
        self.after_commit = after_commit
        self.writes = 0
        self.token = self._token()
        self._file_token = self.token  # callers may rename ``token`` (backtests); records may not
        if intent_log_limit is not None:
            self.intent_log_limit = intent_log_limit
        self.intent_log = Path(f"{self.path}{INTENT_LOG_SUFFIX}")
        #: appended, durable, not yet projected into SQLite (only the owner has any)
        self._pending: list[_StartRecord] = []
        self._log_size = -1  # known once this instance appends (it is then the owner)
        self._closed = False
        self._torn_at: int | None = None
        # an in-memory database (backtests) has nothing to be durable for: no log beside it, and
        # no second connection could reach it (so no background checkpointer either)
        self._in_memory = str(path) in ("", ":memory:")
        self._fd = -1 if self._in_memory else self._open_log()
        if self._fd >= 0:
            try:
                self._torn_at = self._replay()
            except BaseException:
                os.close(self._fd)
                self._db.close()
                raise
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM sagas").fetchone()
        self._seq = int(row[0])

    def checkpoint_in_background(self, interval_s: float = 0.5) -> None:
        """Move WAL checkpoints off the thread that writes the journal.

        SQLite checkpoints the WAL inside the commit that takes it past 1,000 pages. In the
        engine that is the tick path's thread: every ~2 s under the latency benchmark's load a
        saga's commit copied ~4 MB back into the database and stalled the event loop for
        3-13 ms, the largest tail of the tick-to-order time (ADR 0066). A daemon thread with its
        own connection runs ``PASSIVE`` checkpoints instead: they neither wait for nor block the
        writer, and SQLite releases the GIL while it copies. Durability is unchanged: commits
        are durable in the WAL; a checkpoint only moves them into the main file.
        """
        if self._checkpointer is not None or self._in_memory:
            return
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        stop = threading.Event()
        path = str(self.path)

        def run() -> None:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA busy_timeout=5000")
                while not stop.wait(interval_s):
                    try:
                        row = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.Error as exc:  # the next round retries; the WAL only grows
                        log.warning("journal checkpoint of %s failed: %s", path, exc)
                        continue
                    if row is not None:
                        self.last_checkpoint = (int(row[1]), int(row[2]))
            finally:
                db.close()

        thread = threading.Thread(target=run, name="journal-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (thread, stop)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join()
            self._checkpointer = None  # SQLite's last close checkpoints whatever is left
        try:
            self.flush()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Add the ``tenant`` column to a journal written before tenancy reached execution."""
        for table in _TENANT_TABLES:
            cols = {str(r[1]) for r in self._db.execute(f"PRAGMA table_info({table})")}
            if "tenant" not in cols:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN tenant TEXT")

    def bind_tenant(self, tenant: str) -> None:
        """Stamp every later row with ``tenant``; a journal belongs to one tenant for life."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'tenant'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('tenant', ?)", (tenant,))
        elif str(row[0]) != tenant:
            raise JournalError(f"journal {self.path} belongs to tenant {row[0]!r}, not {tenant!r}")
        self.tenant = tenant

    def _token(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'token'").fetchone()
        if row is not None:
            return str(row[0])
        token = secrets.token_hex(4)
        self._db.execute("INSERT INTO meta (key, value) VALUES ('token', ?)", (token,))
        return token

    # -- ids ------------------------------------------------------------------------------------
    def new_saga_id(self) -> str:
        """Next saga id; an id whose saga never got journaled is simply skipped, never reused
        by an order (no order can exist without its saga's ``started`` event)."""
        self._seq += 1
        return make_saga_id(self.token, self._seq)

    # -- writes ---------------------------------------------------------------------------------
    def _transaction(self, work: Callable[[sqlite3.Connection], None], sync: bool = False) -> None:
        """One durable transaction; ``sync`` forces an fsync of the WAL in INTENTS mode.

        The WAL is sequential, so fsyncing it for an intent also makes every earlier (unsynced)
        commit durable: an intent can never survive a power cut that lost what preceded it.
        Unprojected saga starts are written first, so a saga's events follow its start rows.
        """
        self.flush()
        self.writes += 1
        count = self.writes
        self._commit(work, "FULL" if sync and self.synchronous == "INTENTS" else None, count)
        if self.after_commit is not None:
            self.after_commit(count)

    def _commit(
        self, work: Callable[[sqlite3.Connection], None], sync: str | None = None,
        count: int | None = None,
    ) -> None:
        """Run ``work`` in one write transaction at ``sync`` (default: the journal's own level);
        ``count`` (a journal write, not a projection) is shown to ``before_commit``."""
        db = self._db
        bump = sync is not None and sync != self._base_sync
        if bump:
            db.execute(f"PRAGMA synchronous={sync}")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                work(db)
                if count is not None and self.before_commit is not None:
                    self.before_commit(count)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            if bump:
                db.execute(f"PRAGMA synchronous={self._base_sync}")

    def start(
        self, started: Started, reservation: Reservation | None = None, first: Intent | None = None,
        *, saga: Saga | None = None,
    ) -> Saga:
        """Journal a new saga (and the risk reservation it holds) and return its live state.

        With ``first`` (the saga's first order intent) the durable record is one append to the
        intent log, and SQLite is not touched: the tick path pays a ``write`` (+ ``fdatasync``)
        before leg 1 may leave the process, and :meth:`flush` writes the rows after the send.
        Without it (or for an in-memory database) the start is an ordinary transaction.
        """
        if saga is None:  # the caller's fresh saga of this plan, if it built one to learn ``first``
            saga = Saga(started.plan)
        elif saga.plan is not started.plan or saga.orders or saga.state is not SagaState.RESERVED:
            raise JournalError("start() needs a fresh saga of the started plan")
        if first is not None:
            saga.apply(first)
        rec = self._start_record(started, reservation, first)
        if first is None or self._fd < 0:
            self._transaction(lambda db: self._project(db, rec), sync=first is not None)
        else:
            self._append(rec)
        return saga

    def _start_record(
        self, started: Started, reservation: Reservation | None, first: Intent | None
    ) -> _StartRecord:
        res = None
        if reservation is not None:
            res = {
                "saga_id": reservation.saga_id, "pair": reservation.pair,
                "contracts": reservation.contracts, "per_venue": dict(reservation.per_venue),
                "ts_ns": reservation.ts_ns,
            }
            if reservation.per_shard:  # sharded collateral (Kalshi); absent keeps old records
                res["per_shard"] = dict(reservation.per_shard)
        seq = int(started.plan.saga_id.rsplit("-", 1)[1])
        return _StartRecord(seq, self.tenant, self._file_token, started, res, first)

    def rehearse_start(
        self, started: Started, reservation: Reservation | None, first: Intent | None
    ) -> bytes:
        """The bytes :meth:`start` would append for this saga, written nowhere (ADR 0067)."""
        return self._start_record(started, reservation, first).encode()

    # -- the intent log -------------------------------------------------------------------------
    def _open_log(self) -> int:
        created = not self.intent_log.exists()
        fd = os.open(self.intent_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created:  # the file's name must survive a power cut as well as its records
            dfd = os.open(self.intent_log.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return fd

    def _append(self, rec: _StartRecord) -> None:
        """The write-ahead record of a new saga: one ``write``, durable unless ``NORMAL``."""
        line = rec.encode()
        self.writes += 1
        count = self.writes
        if self.before_commit is not None:
            self.before_commit(count)
        fd = self._fd
        if self._log_size < 0:  # first append: this instance owns the log from now on
            if self._torn_at is not None:  # drop a dead owner's torn tail before writing after it
                log.warning("cutting a torn record off %s at byte %d", self.intent_log, self._torn_at)
                os.ftruncate(fd, self._torn_at)
                os.fsync(fd)
                self._torn_at = None
            self._log_size = os.fstat(fd).st_size
        written = os.write(fd, line)
        if written != len(line):
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._log_size)
            raise JournalError(f"short write to {self.intent_log}: {written} of {len(line)} bytes")
        self._log_size += written
        self._pending.append(rec)
        if self.synchronous != "NORMAL":
            os.fdatasync(fd)
        if self.after_commit is not None:
            self.after_commit(count)

    def flush(self) -> None:
        """Write the SQLite rows of every appended saga start, in one transaction.

        The rows repeat a record that is already durable, so this is no journal write (no hooks)
        and commits without its own fsync: a power cut that loses them leaves the record for
        replay, and the WAL being sequential, any later synced commit makes them durable too.
        Past :attr:`intent_log_limit` the commit is synced and the log emptied.
        """
        pending = self._pending
        if not pending:
            return
        durable = self._log_size > self.intent_log_limit
        self._commit(lambda db: self._project_missing(db, pending), "FULL" if durable else "NORMAL")
        self._pending = []
        if durable:
            self._commit(lambda db: self._truncate_log())
            self._log_size = 0

    def _truncate_log(self) -> None:
        """Empty the log (under SQLite's write lock, which every locked replay also holds)."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def _project_missing(self, db: sqlite3.Connection, records: list[_StartRecord]) -> None:
        for rec in records:
            if _has_saga(db, rec.saga_id):
                continue  # projected already (by a reader's replay, or a replay before a crash)
            self._project(db, rec)

    def _project(self, db: sqlite3.Connection, rec: _StartRecord) -> None:
        """The SQLite rows of a saga start: one function for a start, a flush and a replay."""
        plan = rec.started.plan
        saga = Saga(plan)
        if rec.first is not None:
            saga.apply(rec.first)
        db.execute(
            "INSERT INTO sagas (seq, saga_id, pair, state, reservation, created_ns, updated_ns,"
            " tenant) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.seq, plan.saga_id, plan.pair, saga.state.value,
             None if rec.reservation is None else _dumps(rec.reservation),
             rec.started.ts_ns, rec.started.ts_ns, rec.tenant),
        )
        self._insert_event(db, plan.saga_id, rec.started, rec.tenant)
        if rec.first is not None:
            self._write(db, saga, rec.first, rec.tenant)

    def _read_log(self) -> tuple[list[_StartRecord], int | None]:
        """Every intact record, and where a torn last record starts (``None`` if there is none).

        Only the last record can be torn: each one was fully written (and synced) before the
        next was appended. Damage anywhere else means the file cannot be trusted.
        """
        try:
            data = self.intent_log.read_bytes()
        except FileNotFoundError:
            return [], None
        lines = data.split(b"\n")
        tail = lines.pop()  # empty when the last record is complete
        records: list[_StartRecord] = []
        offset = 0
        for i, line in enumerate(lines):
            rec = _decode(line)
            if rec is None:
                if i == len(lines) - 1 and not tail:
                    tail = line
                    break
                raise JournalError(
                    f"damaged record at byte {offset} of {self.intent_log} with records after it;"
                    " the intent log cannot be trusted"
                )
            records.append(rec)
            offset += len(line) + 1
        return records, (offset if tail else None)

    def _replay(self) -> int | None:
        """Project every logged saga start SQLite lacks; where a torn tail starts, if any.

        A lock-free look first: when SQLite has every saga (the usual case for a reader while
        its owner runs) nothing is locked. Otherwise the log is read again under the write lock,
        which the owner also holds to truncate, and only what is still missing is written.
        """
        torn: int | None = None
        try:
            records, torn = self._read_log()
            self._check_owners(records)
            locked = any(self._missing(records))
        except JournalError:
            locked = True  # say it again under the lock (a truncation can race a lock-free read)
        if locked:
            found: list[int | None] = []

            def work(db: sqlite3.Connection) -> None:
                records, torn = self._read_log()
                self._check_owners(records)
                self._project_missing(db, records)
                found.append(torn)

            try:
                self._commit(work)
            except SagaError as exc:
                raise JournalError(f"intent log of {self.path} does not replay: {exc}") from exc
            torn = found[0]
        if torn is not None:
            log.warning(
                "ignoring a torn last record at byte %d of %s: it was never acknowledged, so its"
                " order was never sent", torn, self.intent_log,
            )
        return torn

    def _missing(self, records: list[_StartRecord]) -> Iterator[bool]:
        for rec in records:
            yield not _has_saga(self._db, rec.saga_id)

    def _check_owners(self, records: list[_StartRecord]) -> None:
        """Refuse records of another tenant, or of another database file at the same path."""
        bound = self.tenant
        if bound is None:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'tenant'").fetchone()
            bound = None if row is None else str(row[0])
        for rec in records:
            if rec.tenant != bound:
                raise JournalError(
                    f"intent log {self.intent_log} holds saga {rec.saga_id} of tenant"
                    f" {rec.tenant!r}; this journal belongs to {bound!r}"
                )
            if rec.token != self._file_token:
                raise JournalError(
                    f"intent log {self.intent_log} was written for journal token {rec.token!r},"
                    f" but {self.path} has token {self._file_token!r}: the database was replaced;"
                    " move the log away if its sagas are to be dropped"
                )

    def record(self, saga: Saga, event: Event) -> None:
        """Apply ``event`` to ``saga`` (validating it) and make it durable before returning."""
        if isinstance(event, Started):
            raise JournalError("use start() for a new saga")
        saga.apply(event)
        self._transaction(
            lambda db: self._write(db, saga, event, self.tenant), sync=isinstance(event, Intent)
        )

    def _write(self, db: sqlite3.Connection, saga: Saga, event: Event, tenant: str | None) -> None:
        """The rows of one event already applied to ``saga``: the event and its projections.

        ``tenant`` is the one the event was recorded for (a replayed record carries its own).
        """
        saga_id = saga.saga_id
        ts = int(getattr(event, "ts_ns", 0))
        self._insert_event(db, saga_id, event, tenant)
        if isinstance(event, Intent):
            db.execute(
                "INSERT INTO orders (cid, saga_id, step, role, venue, market, outcome, action,"
                " price, size, state, intent_ns, tenant)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.cid, saga_id, event.step, event.role.value, event.venue, event.market,
                 event.outcome.value, event.action, event.price, event.size, "pending", ts,
                 tenant),
            )
        elif isinstance(event, OrderUnknown):
            db.execute(
                "UPDATE orders SET state = 'unknown' WHERE saga_id = ? AND step = ?",
                (saga_id, event.step),
            )
        elif isinstance(event, OrderFinal):
            db.execute(
                "UPDATE orders SET state = 'final', order_id = ?, status = ?, filled = ?,"
                " cost = ?, fees = ?, source = ?, final_ns = ? WHERE saga_id = ? AND step = ?",
                (event.order_id, event.status, event.filled, event.cost, event.fees,
                 event.source, ts, saga_id, event.step),
            )
        if isinstance(event, Finished):
            db.execute(
                "UPDATE sagas SET state = ?, ending = ?, pnl = ?, updated_ns = ?"
                " WHERE saga_id = ?",
                (saga.state.value, event.ending.value, event.pnl, ts, saga_id),
            )
        else:
            db.execute(
                "UPDATE sagas SET state = ?, updated_ns = ? WHERE saga_id = ?",
                (saga.state.value, ts, saga_id),
            )

    def _insert_event(
        self, db: sqlite3.Connection, saga_id: str, event: Event, tenant: str | None
    ) -> None:
        body = event.to_dict()
        db.execute(
            "INSERT INTO events (saga_id, kind, body, ts_ns, tenant) VALUES (?, ?, ?, ?, ?)",
            (saga_id, event.kind, _dumps(body), int(body.get("ts_ns", 0)), tenant),
        )

    def log(self, kind: str, body: dict[str, Any], ts_ns: int) -> None:
        """Non-saga record (risk rejection, kill switch, reconciliation report)."""
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO log (ts_ns, kind, body, tenant) VALUES (?, ?, ?, ?)",
                (ts_ns, kind, _dumps(body), self.tenant),
            )

        self._transaction(work)

    # -- reads ----------------------------------------------------------------------------------
    def events(self, saga_id: str) -> list[Event]:
        self.flush()
        rows = self._db.execute(
            "SELECT kind, body FROM events WHERE saga_id = ? ORDER BY id", (saga_id,)
        ).fetchall()
        return [event_from_dict(kind, json.loads(body)) for kind, body in rows]

    def raw_events(self, saga_id: str) -> list[tuple[str, dict[str, Any]]]:
        self.flush()
        rows = self._db.execute(
            "SELECT kind, body FROM events WHERE saga_id = ? ORDER BY id", (saga_id,)
        ).fetchall()
        return [(str(kind), json.loads(body)) for kind, body in rows]

    def load(self, saga_id: str) -> Saga:
        events = self.events(saga_id)
        if not events:
            raise JournalError(f"no saga {saga_id} in {self.path}")
        return Saga.replay(events)

    def unfinished(self) -> list[str]:
        self.flush()
        rows = self._db.execute(
            "SELECT saga_id FROM sagas WHERE ending IS NULL ORDER BY seq"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def saga_ids(self) -> list[str]:
        self.flush()
        return [str(r[0]) for r in self._db.execute("SELECT saga_id FROM sagas ORDER BY seq")]

    def reservation(self, saga_id: str) -> Reservation | None:
        self.flush()
        row = self._db.execute(
            "SELECT reservation FROM sagas WHERE saga_id = ?", (saga_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        d = json.loads(row[0])
        return Reservation(
            str(d["saga_id"]), str(d["pair"]), int(d["contracts"]),
            {str(k): int(v) for k, v in d["per_venue"].items()}, int(d["ts_ns"]),
            {str(k): int(v) for k, v in d.get("per_shard", {}).items()},
        )

    def endings(self) -> dict[str, int]:
        self.flush()
        rows = self._db.execute(
            "SELECT COALESCE(ending, 'unfinished'), COUNT(*) FROM sagas GROUP BY 1"
        ).fetchall()
        return {str(k): int(v) for k, v in rows}

    def sagas_since(self, since_ns: int, ending: str | None = None) -> list[SagaRow]:
        """Sagas started or changed at or after ``since_ns`` (optionally of one ``ending``);
        ``updated_ns`` is never before ``created_ns``, so one indexed bound finds both."""
        self.flush()
        query = ("SELECT saga_id, pair, state, ending, pnl, created_ns, updated_ns FROM sagas"
                 " WHERE updated_ns >= ?")
        args: tuple[Any, ...] = (since_ns,)
        if ending is not None:
            query += " AND ending = ?"
            args += (ending,)
        rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [SagaRow(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3]),
                        int(r[4] or 0), int(r[5]), int(r[6])) for r in rows]

    def orders(self) -> list[OrderRow]:
        self.flush()
        rows = self._db.execute(
            "SELECT cid, saga_id, step, role, venue, market, outcome, action, price, size, state,"
            " order_id, status, filled, cost, fees, source FROM orders ORDER BY rowid"
        ).fetchall()
        return [
            OrderRow(r[0], r[1], r[2], r[3], r[4], r[5], Outcome(r[6]), r[7], r[8], r[9], r[10],
                     r[11], r[12], r[13], r[14], r[15], r[16])
            for r in rows
        ]

    def positions(self) -> PositionBook:
        """Positions implied by every final order in the journal (the engine's own view)."""
        book = PositionBook()
        for o in self.orders():
            if o.state == "final" and o.filled:
                book.apply_fill(o.venue, o.market, o.outcome, o.action, o.filled, o.cost, o.fees)
        return book

    def position_sizes(self) -> dict[PositionKey, int]:
        return self.positions().net_sizes()

    def tenants(self) -> dict[str, set[str | None]]:
        """Distinct tenants per table (an audit view: a healthy journal shows one tenant)."""
        self.flush()
        return {
            t: {r[0] for r in self._db.execute(f"SELECT DISTINCT tenant FROM {t}")}
            for t in _TENANT_TABLES
        }

    def logs(self, kind: str | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        self.flush()
        query = "SELECT ts_ns, kind, body FROM log"
        args: tuple[str, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        for ts, k, body in self._db.execute(query + " ORDER BY id", args).fetchall():
            yield int(ts), str(k), json.loads(body)
