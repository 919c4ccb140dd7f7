"""The durable execution journal: SQLite in WAL mode, one transaction per saga event.

Write-ahead is the whole point: :meth:`Journal.record` applies an event to the in-memory saga
(which validates it), commits it, and only returns once the commit is durable, so the executor
can perform the side effect (send an order) strictly afterwards. With ``synchronous=FULL`` (the
default; docs/adr/0041-journal-fsync-policy.md) every commit fsyncs the WAL: a power cut after
``record`` returns cannot lose the intent. ``INTENTS`` fsyncs only order intents (and, the WAL
being sequential, everything before them) and lets acknowledgements ride on ``NORMAL``: those can
be re-learnt from the venue by client order id, an intent cannot. ``NORMAL`` survives a process
crash (kill -9) but not a power cut. Acknowledgements and fills are recorded after the
fact, and a crash between a send and its acknowledgement is exactly what recovery resolves by
looking the order up by its client order id.

Tables: ``events`` is the source of truth (saga state = fold of its events); ``sagas`` and
``orders`` are projections maintained in the same transaction, for recovery (unfinished sagas),
reconciliation (journal positions) and operators (plain SQL, or ``load(id).describe()``).
``log`` keeps non-saga records: risk rejections, kill-switch changes, reconciliation reports.

One executor process owns a journal file at a time (the saga sequence counter is in memory).
Every row carries the ``tenant`` it was written for (``NULL`` for single-tenant use). A journal
is bound to one tenant for life (``meta.tenant``): opening it for another tenant is refused, so
one tenant's executor can never resume or extend another's sagas. Files written before the
column existed gain it on open (``ALTER TABLE ... ADD COLUMN``; old rows read ``NULL``).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    Started,
    event_from_dict,
)

__all__ = ["Journal", "JournalError", "OrderRow"]

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
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
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


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


class Journal:
    """One SQLite file; every method is a short synchronous transaction."""

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "FULL",
        before_commit: Hook | None = None,
        after_commit: Hook | None = None,
        *,
        tenant: str | None = None,
    ) -> None:
        mode = synchronous.upper()
        if mode not in ("FULL", "NORMAL", "EXTRA", "INTENTS"):
            raise JournalError(
                f"synchronous must be FULL, EXTRA, INTENTS or NORMAL, got {synchronous!r}"
            )
        self.path = Path(path)
        self.synchronous = mode
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
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
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM sagas").fetchone()
        self._seq = int(row[0])

    def close(self) -> None:
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
        """
        db = self._db
        self.writes += 1
        count = self.writes
        bump = sync and self._base_sync == "NORMAL" and self.synchronous == "INTENTS"
        if bump:
            db.execute("PRAGMA synchronous=FULL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                work(db)
                if self.before_commit is not None:
                    self.before_commit(count)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            if bump:
                db.execute(f"PRAGMA synchronous={self._base_sync}")
        if self.after_commit is not None:
            self.after_commit(count)

    def start(
        self, started: Started, reservation: Reservation | None = None, first: Intent | None = None
    ) -> Saga:
        """Journal a new saga (and the risk reservation it holds) and return its live state.

        ``first`` (the saga's first order intent) rides in the same durable transaction: the
        tick path then pays one commit, not two, before leg 1 may leave the process.
        """
        saga = Saga(started.plan)
        if first is not None:
            saga.apply(first)
        plan = started.plan
        seq = int(plan.saga_id.rsplit("-", 1)[1])
        res = None
        if reservation is not None:
            res = _dumps({
                "saga_id": reservation.saga_id, "pair": reservation.pair,
                "contracts": reservation.contracts, "per_venue": dict(reservation.per_venue),
                "ts_ns": reservation.ts_ns,
            })

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO sagas (seq, saga_id, pair, state, reservation, created_ns, updated_ns,"
                " tenant) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, plan.saga_id, plan.pair, saga.state.value, res, started.ts_ns, started.ts_ns,
                 self.tenant),
            )
            self._insert_event(db, plan.saga_id, started)
            if first is not None:
                self._write(db, saga, first)

        self._transaction(work, sync=first is not None)
        return saga

    def record(self, saga: Saga, event: Event) -> None:
        """Apply ``event`` to ``saga`` (validating it) and make it durable before returning."""
        if isinstance(event, Started):
            raise JournalError("use start() for a new saga")
        saga.apply(event)
        self._transaction(lambda db: self._write(db, saga, event), sync=isinstance(event, Intent))

    def _write(self, db: sqlite3.Connection, saga: Saga, event: Event) -> None:
        """The rows of one event already applied to ``saga``: the event and its projections."""
        saga_id = saga.saga_id
        ts = int(getattr(event, "ts_ns", 0))
        self._insert_event(db, saga_id, event)
        if isinstance(event, Intent):
            db.execute(
                "INSERT INTO orders (cid, saga_id, step, role, venue, market, outcome, action,"
                " price, size, state, intent_ns, tenant)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.cid, saga_id, event.step, event.role.value, event.venue, event.market,
                 event.outcome.value, event.action, event.price, event.size, "pending", ts,
                 self.tenant),
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

    def _insert_event(self, db: sqlite3.Connection, saga_id: str, event: Event) -> None:
        body = event.to_dict()
        db.execute(
            "INSERT INTO events (saga_id, kind, body, ts_ns, tenant) VALUES (?, ?, ?, ?, ?)",
            (saga_id, event.kind, _dumps(body), int(body.get("ts_ns", 0)), self.tenant),
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
        rows = self._db.execute(
            "SELECT kind, body FROM events WHERE saga_id = ? ORDER BY id", (saga_id,)
        ).fetchall()
        return [event_from_dict(kind, json.loads(body)) for kind, body in rows]

    def raw_events(self, saga_id: str) -> list[tuple[str, dict[str, Any]]]:
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
        rows = self._db.execute(
            "SELECT saga_id FROM sagas WHERE ending IS NULL ORDER BY seq"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def saga_ids(self) -> list[str]:
        return [str(r[0]) for r in self._db.execute("SELECT saga_id FROM sagas ORDER BY seq")]

    def reservation(self, saga_id: str) -> Reservation | None:
        row = self._db.execute(
            "SELECT reservation FROM sagas WHERE saga_id = ?", (saga_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        d = json.loads(row[0])
        return Reservation(
            str(d["saga_id"]), str(d["pair"]), int(d["contracts"]),
            {str(k): int(v) for k, v in d["per_venue"].items()}, int(d["ts_ns"]),
        )

    def endings(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT COALESCE(ending, 'unfinished'), COUNT(*) FROM sagas GROUP BY 1"
        ).fetchall()
        return {str(k): int(v) for k, v in rows}

    def orders(self) -> list[OrderRow]:
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
        return {
            t: {r[0] for r in self._db.execute(f"SELECT DISTINCT tenant FROM {t}")}
            for t in _TENANT_TABLES
        }

    def logs(self, kind: str | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        query = "SELECT ts_ns, kind, body FROM log"
        args: tuple[str, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        for ts, k, body in self._db.execute(query + " ORDER BY id", args).fetchall():
            yield int(ts), str(k), json.loads(body)
