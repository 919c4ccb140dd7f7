"""Where recorded data lives: Parquet for market events, SQLite for trades, decisions and fills.

Layout of an event store (one directory)::

    events/date=2026-01-05/venue=kalshi/part-000000.parquet
    events/date=2026-01-05/venue=polymarket/part-000001.parquet
    engine.sqlite            # market trades, the engine's decisions and fills

Partitions are by UTC date of ``ts_ns`` and venue, so a time-range query opens only the days it
needs. Files are written to ``*.parquet.tmp`` and renamed when closed: a reader (or a crash)
never sees a half-written file, and rotation never loses a row because the writer flushes its
buffer into the old file before it renames it. Memory is bounded by ``flush_rows`` buffered rows
per partition plus one open Parquet row group.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from arbiter.backtest.events import EVENT_SCHEMA, VENUES, EventBatch, EventBuilder

__all__ = ["EngineStore", "EventStore", "EventWriter", "StorageError", "date_of"]

DAY_NS: Final = 86_400 * 10**9


class StorageError(ValueError):
    """A store that does not exist or a query that cannot be answered."""


def date_of(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns // 10**9, dt.UTC).strftime("%Y-%m-%d")


def _day_start(date: str) -> int:
    d = dt.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    return int(d.timestamp()) * 10**9


@dataclass(slots=True)
class _OpenFile:
    path: Path
    writer: pq.ParquetWriter
    rows: int


class EventWriter:
    """Appends event rows to a partitioned Parquet store with bounded memory.

    ``flush_rows``: rows buffered per partition before a row group is written.
    ``rows_per_file``: a file is closed (renamed into place) after this many rows and a new part
    opened; a date change closes the previous day's file on the next flush.
    """

    def __init__(self, root: Path | str, flush_rows: int = 50_000, rows_per_file: int = 2_000_000,
                 first_seq: int = 0) -> None:
        self.root = Path(root)
        self.events_dir = self.root / "events"
        self.events_dir.mkdir(parents=True, exist_ok=True)
        self.flush_rows = flush_rows
        self.rows_per_file = rows_per_file
        self._buffers: dict[tuple[str, int], EventBuilder] = {}
        #: whole-batch pieces waiting for their row group (before the builder's rows in order)
        self._pieces: dict[tuple[str, int], list[pa.Table]] = {}
        self._open: dict[tuple[str, int], _OpenFile] = {}
        self._part = self._next_part()
        self._seq = max(first_seq, self._max_seq() + 1)
        self.rows_written = 0
        self.files_closed = 0
        self.max_buffered = 0
        self._buffered = 0
        self._day = (0, 0, "")

    def _next_part(self) -> int:
        parts = [int(p.name.split("-")[1].split(".")[0]) for p in self.events_dir.rglob("part-*")]
        return max(parts, default=-1) + 1

    def _max_seq(self) -> int:
        best = -1
        for path in sorted(self.events_dir.rglob("part-*.parquet")):
            col = pq.read_table(path, columns=["seq"]).column("seq")
            if len(col):
                best = max(best, int(pa.compute.max(col).as_py()))
        return best

    def _date(self, ts_ns: int) -> str:
        lo, hi, date = self._day
        if lo <= ts_ns < hi:
            return date
        date = date_of(ts_ns)
        lo = _day_start(date)
        self._day = (lo, lo + DAY_NS, date)
        # a new day: whatever is buffered for earlier days is complete, write it out now so
        # memory holds at most the current day's buffers
        for key in sorted(k for k in self._buffers.keys() | self._pieces.keys() if k[0] < date):
            self._flush(key)
            self._close(key)
            self._buffers.pop(key, None)
            self._pieces.pop(key, None)
        return date

    def add(self, ts_ns: int, venue: int, market: str, kind: int, side: int, price: int,
            size: int) -> None:
        """Append one row; ``seq`` is assigned here (store-global, monotone)."""
        key = (self._date(ts_ns), venue)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = EventBuilder()
        buf.next_seq = self._seq
        buf.add(ts_ns, venue, market, kind, side, price, size)
        self._seq += 1
        self._buffered += 1
        if self._buffered > self.max_buffered:
            self.max_buffered = self._buffered
        if len(buf) >= self.flush_rows:
            self._flush(key)

    def add_batch(self, batch: EventBatch) -> None:
        """Append a whole batch (its ``seq`` column is replaced by the store's own).

        Columnar: the batch is split by day and venue with numpy and its pieces join the same
        per-partition buffers as :meth:`add` rows (in order): the same rows land in the same
        partitions in the same order as row-wise appends, at Arrow speed, and memory stays
        bounded by ``flush_rows`` per partition."""
        n = len(batch)
        if not n:
            return
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        day = batch.ts_ns // DAY_NS
        cuts = (np.flatnonzero(day[1:] != day[:-1]) + 1).tolist()
        for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
            date = self._date(int(batch.ts_ns[lo]))
            seg = EventBatch(batch.ts_ns[lo:hi], batch.venue[lo:hi], batch.market[lo:hi],
                             batch.kind[lo:hi], batch.side[lo:hi], batch.price[lo:hi],
                             batch.size[lo:hi], seq[lo:hi], batch.markets)
            for venue in (0, 1):
                mask = seg.venue == venue
                count = int(np.count_nonzero(mask))
                if count:
                    self._add_piece((date, venue), seg.take(mask) if count < len(seg) else seg)

    def _add_piece(self, key: tuple[str, int], piece: EventBatch) -> None:
        buf = self._buffers.get(key)
        pieces = self._pieces.setdefault(key, [])
        if buf is not None and len(buf):  # rows appended one by one came first
            pieces.append(buf.build().to_arrow())
            buf.clear()
        at = 0
        while at < len(piece):
            room = self.flush_rows - sum(t.num_rows for t in pieces)
            part = piece.take(slice(at, at + max(room, 1)))
            pieces.append(part.to_arrow())
            at += len(part)
            self._buffered += len(part)
            self.max_buffered = max(self.max_buffered, self._buffered)
            if sum(t.num_rows for t in pieces) >= self.flush_rows:
                self._flush(key)
                pieces = self._pieces.setdefault(key, [])

    def _flush(self, key: tuple[str, int]) -> None:
        buf = self._buffers.get(key)
        tables = self._pieces.pop(key, [])
        if buf is not None and len(buf):
            tables.append(buf.build().to_arrow())
            buf.clear()
        if not tables:
            return
        table = tables[0] if len(tables) == 1 else (
            pa.concat_tables(tables).unify_dictionaries().combine_chunks())
        self._buffered -= table.num_rows
        # a date that is no longer being written to gets its file closed (day rotation)
        for other in [k for k in self._open if k[1] == key[1] and k[0] < key[0]]:
            self._flush(other)
            self._close(other)
        handle = self._open.get(key)
        if handle is None:
            date, venue = key
            folder = self.events_dir / f"date={date}" / f"venue={VENUES[venue]}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"part-{self._part:06d}.parquet"
            self._part += 1
            tmp = path.with_suffix(".parquet.tmp")
            handle = self._open[key] = _OpenFile(path, pq.ParquetWriter(tmp, EVENT_SCHEMA), 0)
        handle.writer.write_table(table)
        handle.rows += table.num_rows
        self.rows_written += table.num_rows
        if handle.rows >= self.rows_per_file:
            self._close(key)

    def _close(self, key: tuple[str, int]) -> None:
        handle = self._open.pop(key, None)
        if handle is None:
            return
        handle.writer.close()
        handle.path.with_suffix(".parquet.tmp").rename(handle.path)
        self.files_closed += 1

    def flush(self) -> None:
        for key in sorted(self._buffers.keys() | self._pieces.keys()):
            self._flush(key)

    def rotate(self) -> None:
        """Flush everything and close every open file (readers see all rows afterwards)."""
        self.flush()
        for key in sorted(self._open):
            self._close(key)

    def close(self) -> None:
        self.rotate()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventStore:
    """Read side of an event store: time-range queries and export."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.events_dir = self.root / "events"

    def files(self, start_ns: int | None = None, end_ns: int | None = None,
              venues: Sequence[str] | None = None) -> list[Path]:
        if not self.events_dir.is_dir():
            raise StorageError(f"{self.root} holds no recorded events (no events/ folder)")
        out = []
        for path in sorted(self.events_dir.glob("date=*/venue=*/part-*.parquet")):
            date = path.parent.parent.name.removeprefix("date=")
            venue = path.parent.name.removeprefix("venue=")
            day = _day_start(date)
            if start_ns is not None and day + DAY_NS <= start_ns:
                continue
            if end_ns is not None and day >= end_ns:
                continue
            if venues is not None and venue not in venues:
                continue
            out.append(path)
        return out

    def table(self, start_ns: int | None = None, end_ns: int | None = None,
              venues: Sequence[str] | None = None, markets: Sequence[str] | None = None) -> pa.Table:
        """Rows in ``[start_ns, end_ns)`` in replay order (ts, then seq)."""
        files = self.files(start_ns, end_ns, venues)
        if not files:
            return EVENT_SCHEMA.empty_table()
        tables = [pq.read_table(p, schema=EVENT_SCHEMA) for p in files]
        table = pa.concat_tables(tables, promote_options="permissive")
        mask = None
        if start_ns is not None:
            mask = pa.compute.greater_equal(table["ts_ns"], start_ns)
        if end_ns is not None:
            m = pa.compute.less(table["ts_ns"], end_ns)
            mask = m if mask is None else pa.compute.and_(mask, m)
        if markets is not None:
            m = pa.compute.is_in(
                table["market"].cast(pa.string()), value_set=pa.array(list(markets), pa.string())
            )
            mask = m if mask is None else pa.compute.and_(mask, m)
        if mask is not None:
            table = table.filter(mask)
        return table.sort_by([("ts_ns", "ascending"), ("seq", "ascending")])

    def load(self, start_ns: int | None = None, end_ns: int | None = None,
             venues: Sequence[str] | None = None, markets: Sequence[str] | None = None) -> EventBatch:
        return EventBatch.from_arrow(self.table(start_ns, end_ns, venues, markets))

    def batches(self, start_ns: int | None = None, end_ns: int | None = None,
                venues: Sequence[str] | None = None, markets: Sequence[str] | None = None,
                chunk_rows: int = 1 << 17) -> Iterator[EventBatch]:
        """The rows of :meth:`load`, in the same order, as a stream of batches in bounded memory.

        Days never overlap (a row's partition is its own date), so days are read one after the
        other; within a day the files of both venues (and the parts a rotation made) are merged
        on ``(ts_ns, seq)``, holding one record batch of at most ``chunk_rows`` rows per file. A
        file whose rows are not already in that order (a wall clock that stepped back while
        recording) is sorted whole on its own, which stays bounded by the writer's
        ``rows_per_file``. Every batch carries the market table of the stream so far
        (append-only, so an id once given keeps its name).
        """
        files = self.files(start_ns, end_ns, venues)
        names: dict[str, int] = {}
        wanted = None if markets is None else set(markets)
        by_day: dict[str, list[Path]] = {}
        for path in files:
            by_day.setdefault(path.parent.parent.name, []).append(path)
        for day in sorted(by_day):
            sources = [_FileRows(p, names, start_ns, end_ns, wanted, chunk_rows)
                       for p in by_day[day]]
            yield from _merge(sources, names)

    def export(self, out: Path | str, fmt: str, start_ns: int | None = None,
               end_ns: int | None = None) -> int:
        """Write the rows of a time range to one Parquet or CSV file; returns the row count.

        Streams: one batch of :meth:`batches` at a time goes to the file's writer."""
        plain = _plain(EVENT_SCHEMA)
        rows = 0
        with _TableSink(Path(out), fmt, plain) as sink:
            for batch in self.batches(start_ns, end_ns):
                sink.write(batch.to_arrow().cast(plain))
                rows += len(batch)
        return rows


_KEY_COLUMNS: Final = ["ts_ns", "venue", "market", "kind", "side", "price", "size", "seq"]


class _FileRows:
    """One Parquet file of the store as sorted numpy chunks with store-wide market ids."""

    def __init__(self, path: Path, names: dict[str, int], start_ns: int | None,
                 end_ns: int | None, wanted: set[str] | None, chunk_rows: int) -> None:
        self.path = path
        self.names = names
        self.bounds = (start_ns, end_ns)
        self.wanted = wanted
        self.chunk_rows = chunk_rows
        self._chunks = self._read()

    def _in_order(self) -> bool:
        last_ts, last_seq = -(2**63), -(2**63)
        pf = pq.ParquetFile(self.path)
        for rb in pf.iter_batches(batch_size=self.chunk_rows, columns=["ts_ns", "seq"]):
            ts = rb.column(0).to_numpy()
            seq = rb.column(1).to_numpy()
            if not len(ts):
                continue
            if ts[0] < last_ts or (ts[0] == last_ts and seq[0] <= last_seq):
                return False
            d = np.diff(ts)
            if (d < 0).any() or ((d == 0) & (np.diff(seq) <= 0)).any():
                return False
            last_ts, last_seq = int(ts[-1]), int(seq[-1])
        return True

    def _read(self) -> Iterator[EventBatch]:
        pf = pq.ParquetFile(self.path)
        if self._in_order():
            for rb in pf.iter_batches(batch_size=self.chunk_rows, columns=_KEY_COLUMNS):
                got = self._convert(pa.Table.from_batches([rb]))
                if len(got):
                    yield got
            return
        table = pf.read(columns=_KEY_COLUMNS).sort_by([("ts_ns", "ascending"),
                                                       ("seq", "ascending")])
        for rb in table.to_batches(max_chunksize=self.chunk_rows):
            got = self._convert(pa.Table.from_batches([rb]))
            if len(got):
                yield got

    def _convert(self, table: pa.Table) -> EventBatch:
        batch = EventBatch.from_arrow(table)
        if not len(batch):
            return batch
        names = self.names
        remap = np.array([names.setdefault(m, len(names)) for m in batch.markets], np.int32)
        batch = EventBatch(batch.ts_ns, batch.venue, remap[batch.market], batch.kind, batch.side,
                           batch.price, batch.size, batch.seq, [])
        start_ns, end_ns = self.bounds
        mask = None
        if start_ns is not None:
            mask = batch.ts_ns >= start_ns
        if end_ns is not None:
            m = batch.ts_ns < end_ns
            mask = m if mask is None else mask & m
        if self.wanted is not None:
            ids = np.array([i for n, i in names.items() if n in self.wanted] or [-1], np.int32)
            m = np.isin(batch.market, ids)
            mask = m if mask is None else mask & m
        return batch if mask is None else batch.take(mask)

    def next(self) -> EventBatch | None:
        return next(self._chunks, None)


def _merge(sources: list[_FileRows], names: dict[str, int]) -> Iterator[EventBatch]:
    """k-way merge of sorted sources on ``(ts_ns, seq)``, vectorised per round: every row not
    after the smallest "last key" among the sources' current chunks is safe to emit."""
    current: list[EventBatch] = []
    live: list[_FileRows] = []
    for src in sources:
        first = src.next()
        if first is not None:
            current.append(first)
            live.append(src)
    while current:
        if len(current) == 1:
            out = current[0]
        else:
            bound = min((int(c.ts_ns[-1]), int(c.seq[-1])) for c in current)
            parts: list[EventBatch] = []
            for i, c in enumerate(current):
                n = int(np.count_nonzero(
                    (c.ts_ns < bound[0]) | ((c.ts_ns == bound[0]) & (c.seq <= bound[1]))))
                if n:
                    parts.append(c.take(slice(0, n)))
                    current[i] = c.take(slice(n, None))
            out = _concat_same_table(parts).sorted()
        yield EventBatch(out.ts_ns, out.venue, out.market, out.kind, out.side, out.price,
                         out.size, out.seq, list(names))
        if len(current) == 1:
            current[0] = EventBatch.empty()
        keep_c: list[EventBatch] = []
        keep_s: list[_FileRows] = []
        for c, src in zip(current, live, strict=True):
            got: EventBatch | None = c
            if not len(c):
                got = src.next()
            if got is not None:
                keep_c.append(got)
                keep_s.append(src)
        current, live = keep_c, keep_s


def _concat_same_table(parts: list[EventBatch]) -> EventBatch:
    """Batches whose market ids already share one table."""
    return EventBatch(
        np.concatenate([b.ts_ns for b in parts]), np.concatenate([b.venue for b in parts]),
        np.concatenate([b.market for b in parts]), np.concatenate([b.kind for b in parts]),
        np.concatenate([b.side for b in parts]), np.concatenate([b.price for b in parts]),
        np.concatenate([b.size for b in parts]), np.concatenate([b.seq for b in parts]), [],
    )


class _TableSink:
    """Parquet or CSV file written one table at a time (export never holds a whole range)."""

    def __init__(self, out: Path, fmt: str, schema: pa.Schema) -> None:
        if fmt not in ("parquet", "csv"):
            raise StorageError(f"unknown export format {fmt!r} (parquet or csv)")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.writer: pq.ParquetWriter | pacsv.CSVWriter = (
            pq.ParquetWriter(out, schema) if fmt == "parquet" else pacsv.CSVWriter(out, schema))

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def __enter__(self) -> _TableSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.close()


def _plain(schema: pa.Schema) -> pa.Schema:
    """Dictionary columns as plain strings (CSV writers and spreadsheets want values)."""
    return pa.schema(
        [pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema]
    )


# -- SQLite --------------------------------------------------------------------------------------

_TABLES: Final[dict[str, str]] = {
    "market_trades": "ts_ns INTEGER NOT NULL, venue TEXT NOT NULL, market TEXT NOT NULL, "
    "side INTEGER NOT NULL, price INTEGER NOT NULL, size INTEGER NOT NULL",
    "decisions": "ts_ns INTEGER NOT NULL, run TEXT NOT NULL, pair TEXT NOT NULL, "
    "direction TEXT NOT NULL, size INTEGER NOT NULL, expected_profit INTEGER NOT NULL, "
    "action TEXT NOT NULL, reason TEXT NOT NULL, saga_id TEXT",
    "fills": "ts_ns INTEGER NOT NULL, run TEXT NOT NULL, venue TEXT NOT NULL, market TEXT NOT NULL, "
    "outcome TEXT NOT NULL, action TEXT NOT NULL, price INTEGER NOT NULL, size INTEGER NOT NULL, "
    "fee INTEGER NOT NULL, order_id TEXT NOT NULL, client_order_id TEXT, is_taker INTEGER NOT NULL",
    "sagas": "ts_ns INTEGER NOT NULL, run TEXT NOT NULL, saga_id TEXT NOT NULL, pair TEXT NOT NULL, "
    "direction TEXT NOT NULL, ending TEXT NOT NULL, pnl INTEGER NOT NULL, detail TEXT NOT NULL",
}


class EngineStore:
    """SQLite store of market trades and the engine's own decisions, fills and saga outcomes.

    Integers only (core units), one index per table on ``ts_ns``: the queries are "what happened
    between t0 and t1", for reports and for the paper-vs-live comparison. ``run`` labels a
    source (``live``, ``paper``, a backtest id) so several can share one file.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        for name, cols in _TABLES.items():
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
            self.db.execute(f"CREATE INDEX IF NOT EXISTS {name}_ts ON {name} (ts_ns)")
        self.db.commit()

    def close(self) -> None:
        self.db.commit()
        self.db.close()

    def __enter__(self) -> EngineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def tables() -> list[str]:
        return list(_TABLES)

    def _columns(self, table: str) -> list[str]:
        if table not in _TABLES:
            raise StorageError(f"unknown table {table!r}; known: {', '.join(_TABLES)}")
        return [c.split()[0] for c in _TABLES[table].split(", ")]

    def insert(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        cols = self._columns(table)
        values = [tuple(row.get(c) for c in cols) for row in rows]
        self.db.executemany(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values
        )
        self.db.commit()
        return len(values)

    def query(self, table: str, start_ns: int | None = None, end_ns: int | None = None,
              run: str | None = None) -> list[dict[str, Any]]:
        """Rows with ``start_ns <= ts_ns < end_ns`` in insertion order within equal times."""
        return [row for chunk in self.query_chunks(table, start_ns, end_ns, run) for row in chunk]

    def query_chunks(self, table: str, start_ns: int | None = None, end_ns: int | None = None,
                     run: str | None = None, rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        """The rows of :meth:`query` in lists of at most ``rows`` (a cursor, bounded memory)."""
        cols = self._columns(table)
        where: list[str] = []
        args: list[int | str] = []
        if start_ns is not None:
            where.append("ts_ns >= ?")
            args.append(start_ns)
        if end_ns is not None:
            where.append("ts_ns < ?")
            args.append(end_ns)
        if run is not None and "run" in cols:
            where.append("run = ?")
            args.append(run)
        sql = f"SELECT {', '.join(cols)} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts_ns, rowid"
        cursor = self.db.execute(sql, args)
        while True:
            got = cursor.fetchmany(rows)
            if not got:
                return
            yield [dict(zip(cols, row, strict=True)) for row in got]

    def iter_rows(self, table: str) -> Iterator[dict[str, Any]]:
        yield from self.query(table)

    def export(self, table: str, out: Path | str, fmt: str, start_ns: int | None = None,
               end_ns: int | None = None) -> int:
        """One table's rows of a time range to CSV or Parquet, streamed from a cursor; the
        Parquet columns take the SQLite declarations (INTEGER: int64, TEXT: string)."""
        cols = self._columns(table)
        out = Path(out)
        count = 0
        if fmt == "csv":
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=cols)
                w.writeheader()
                for chunk in self.query_chunks(table, start_ns, end_ns):
                    w.writerows(chunk)
                    count += len(chunk)
            return count
        decl = dict(c.split()[:2] for c in _TABLES[table].split(", "))
        schema = pa.schema([(c, pa.int64() if decl[c] == "INTEGER" else pa.string()) for c in cols])
        with _TableSink(out, fmt, schema) as sink:
            for chunk in self.query_chunks(table, start_ns, end_ns):
                sink.write(pa.Table.from_pylist(chunk, schema=schema))
                count += len(chunk)
        return count


def dumps(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): equal values always give equal bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def batch_rows(batch: EventBatch) -> Iterator[tuple[int, int, str, int, int, int, int]]:
    markets = batch.markets
    for ts, venue, market, kind, side, price, size in zip(
        batch.ts_ns.tolist(), batch.venue.tolist(), batch.market.tolist(), batch.kind.tolist(),
        batch.side.tolist(), batch.price.tolist(), batch.size.tolist(), strict=True,
    ):
        yield ts, venue, markets[market], kind, side, price, size

