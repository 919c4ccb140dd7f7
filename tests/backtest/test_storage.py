"""Event store (Parquet, partitioned, rotation without loss), engine store (SQLite), recorder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from arbiter.backtest.events import KALSHI, KIND_LEVEL, KIND_TRADE, POLYMARKET, EventBatch
from arbiter.backtest.recorder import BookTap, record, synthetic_source
from arbiter.backtest.storage import EngineStore, EventStore, EventWriter, StorageError, date_of
from arbiter.backtest.synthetic import DAY_NS, SyntheticConfig, generate
from arbiter.core.book import Side, TokenBook

CFG = SyntheticConfig(pairs=3, days=3, events=6_000, seed=11)


def same_rows(a: EventBatch, b: EventBatch) -> bool:
    cols = ("ts_ns", "venue", "kind", "side", "price", "size")
    return len(a) == len(b) and all(
        np.array_equal(getattr(a, c), getattr(b, c)) for c in cols
    ) and a.market_names() == b.market_names()


def test_arrow_round_trip_is_exact() -> None:
    batch = generate(CFG)
    back = EventBatch.from_arrow(batch.to_arrow())
    assert same_rows(batch, back) and np.array_equal(batch.seq, back.seq)


def test_synthetic_is_seeded_multi_day_and_two_venue() -> None:
    a, b = generate(CFG), generate(CFG)
    assert same_rows(a, b)
    c = generate(SyntheticConfig(pairs=3, days=3, events=6_000, seed=12))
    assert not same_rows(a, c)
    assert set(np.unique(a.venue).tolist()) == {KALSHI, POLYMARKET}
    assert int(a.ts_ns[-1] - a.ts_ns[0]) > 2 * DAY_NS
    assert bool(np.all(np.diff(a.ts_ns) >= 0))


def test_writer_partitions_rotates_and_loses_nothing(tmp_path: Path) -> None:
    batch = generate(CFG)
    with EventWriter(tmp_path, flush_rows=200, rows_per_file=400) as w:
        w.add_batch(batch)
        assert w.max_buffered <= 2 * 200  # bounded: one buffer per venue of the current day
    files = sorted((tmp_path / "events").rglob("*.parquet"))
    assert not list((tmp_path / "events").rglob("*.tmp"))
    assert len(files) > len({f.parent for f in files})  # rotation happened within partitions
    dates = {f.parent.parent.name for f in files}
    assert len(dates) >= 3 and {f.parent.name for f in files} == {"venue=kalshi", "venue=polymarket"}
    for f in files:  # every row sits in the partition of its own date and venue
        t = pq.read_table(f)
        assert {date_of(x) for x in t.column("ts_ns").to_pylist()} == {
            f.parent.parent.name.removeprefix("date=")}
    back = EventStore(tmp_path).load()
    assert same_rows(batch, back)


def test_time_range_query_and_export(tmp_path: Path) -> None:
    batch = generate(CFG)
    with EventWriter(tmp_path, flush_rows=1_000) as w:
        w.add_batch(batch)
    start = int(batch.ts_ns[0]) + DAY_NS // 2
    end = start + DAY_NS
    store = EventStore(tmp_path)
    got = store.load(start, end)
    want = batch.between(start, end)
    assert len(got) == len(want) > 0 and same_rows(want, got)
    assert len(store.files(start, end)) < len(store.files())
    n = store.export(tmp_path / "x.csv", "csv", start, end)
    csv = pacsv.read_csv(tmp_path / "x.csv")
    assert n == csv.num_rows == len(want)
    assert csv.column("market").to_pylist()[:3] == want.market_names()[:3]
    assert store.export(tmp_path / "x.parquet", "parquet", start, end) == n
    with pytest.raises(StorageError):
        store.export(tmp_path / "x.xls", "xls")
    with pytest.raises(StorageError):
        EventStore(tmp_path / "nothing").load()


def test_reopened_writer_continues_sequence(tmp_path: Path) -> None:
    batch = generate(SyntheticConfig(pairs=1, days=1, events=300))
    with EventWriter(tmp_path) as w:
        w.add_batch(batch)
    with EventWriter(tmp_path) as w:
        w.add_batch(batch)
    back = EventStore(tmp_path).table()
    seqs = sorted(back.column("seq").to_pylist())
    assert seqs == list(range(2 * len(batch)))


def test_engine_store_time_ranges_and_export(tmp_path: Path) -> None:
    with EngineStore(tmp_path / "e.sqlite") as db:
        db.insert("fills", [
            {"ts_ns": t, "run": "paper", "venue": "kalshi", "market": "KX", "outcome": "yes",
             "action": "buy", "price": 4000, "size": 10, "fee": 1, "order_id": f"o{t}",
             "client_order_id": None, "is_taker": 1} for t in (5, 1, 9)
        ])
        assert [r["ts_ns"] for r in db.query("fills", 1, 9)] == [1, 5]
        assert db.query("fills", run="live") == []
        assert db.export("fills", tmp_path / "f.csv", "csv") == 3
        assert db.export("fills", tmp_path / "f.parquet", "parquet", 2) == 2
        assert pq.read_table(tmp_path / "f.parquet").column("ts_ns").to_pylist() == [5, 9]
        with pytest.raises(StorageError):
            db.query("nope")


async def test_record_from_async_source(tmp_path: Path) -> None:
    cfg = SyntheticConfig(pairs=2, days=1, events=2_000, seed=3)
    with EngineStore(tmp_path / "engine.sqlite") as db:
        stats = await record(synthetic_source(cfg), EventWriter(tmp_path, flush_rows=300), db)
        trades = db.query("market_trades")
    batch = generate(cfg)
    assert stats.rows == len(batch)
    assert stats.trades == len(trades) == int(np.sum(batch.kind == KIND_TRADE)) > 0
    assert same_rows(batch, EventStore(tmp_path).load())


async def test_record_stops_at_duration_and_keeps_rows(tmp_path: Path) -> None:
    cfg = SyntheticConfig(pairs=2, days=1, events=5_000, seed=3)
    # paced at 1000x real time, the day of data takes ~86 s: far longer than the 2 s we record
    stats = await record(synthetic_source(cfg, speed=1000.0), EventWriter(tmp_path), None,
                         duration_s=2.0)
    assert 0 < stats.rows < 5_000
    assert len(EventStore(tmp_path).load()) == stats.rows


async def test_book_tap_turns_book_changes_into_level_rows() -> None:
    book = TokenBook("7", 100)
    tap = BookTap(lambda m: book if m == "7" else None, clock_ns=lambda: 42)
    book.apply_snapshot([(4000, 5)], [(4200, 7)], 0)
    tap.changed("7")
    book.set_level(Side.BID, 4000, 0, 1)
    book.set_level(Side.BID, 4100, 3, 1)
    tap.changed("7")
    tap.changed("unknown")
    rows = []
    while not tap.queue.empty():
        rows.append(await asyncio.wait_for(tap.queue.get(), 1))
    kinds = [r[3] for r in rows]
    assert kinds[0] != KIND_LEVEL and kinds[1:] == [KIND_LEVEL] * 4
    assert rows[3:] == [(42, POLYMARKET, "7", KIND_LEVEL, 0, 4000, 0),
                        (42, POLYMARKET, "7", KIND_LEVEL, 0, 4100, 3)]
