"""Backtest replay throughput: one deterministic backtest over >= 1M recorded events.

``python -m bench.backtest [--json] [--events N] [--pairs P] [--days D]``

Data: the seeded synthetic two-venue generator (``arbiter.backtest.synthetic``), written to the
Parquet event store and loaded back, exactly as a recorded day would be (generation and the
Parquet round trip are measured separately and are not part of the replay figure). The timed
replay is the full path: Arrow/numpy columns → core books → detection on the touched pair →
risk → saga executor → simulated exchanges (latency, partial fills, queue model).

Comparison on the same data (same process, same rows):
* ``books_only``: the same rows applied to the same core books with no detection/execution
  (the floor any replay of this data in CPython pays);
* ``naive_objects``: the textbook event-driven loop, one Python object per event built from the
  Arrow rows (``to_pylist``) and dispatched through ``getattr`` — what a replay without columnar
  storage does.
Peer engines (hftbacktest, NautilusTrader) are not installed in this environment and were not
measured; see docs/backtesting.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arbiter.backtest.events import KIND_CLEAR, KIND_DELTA, KIND_LEVEL, EventBatch
from arbiter.backtest.replay import BacktestParams, Replayer
from arbiter.backtest.storage import EventStore, EventWriter
from arbiter.backtest.synthetic import SyntheticConfig, generate, make_pairs
from arbiter.core import compiled
from arbiter.core.book import KalshiBook, Outcome, Side
from arbiter.core.detection import DetectionConfig, Detector


def books_only(pairs: Any, events: EventBatch) -> float:
    det = Detector(pairs, DetectionConfig())
    books = [det.kalshi_book(m) if det.tracks_kalshi(m) else det.token_book(m) for m in events.markets]
    sides = [(Outcome.YES, Outcome.NO) if isinstance(b, KalshiBook) else (Side.BID, Side.ASK)
             for b in books]
    start = time.perf_counter()
    for t, m, k, s, p, z in zip(events.ts_ns.tolist(), events.market.tolist(), events.kind.tolist(),
                                events.side.tolist(), events.price.tolist(), events.size.tolist(),
                                strict=True):
        b = books[m]
        if k == KIND_LEVEL:
            b.set_level(sides[m][s], p, z, t)
        elif k == KIND_DELTA:
            b.apply_delta(sides[m][s], p, z, t)  # type: ignore[union-attr]
        elif k == KIND_CLEAR:
            b.apply_snapshot((), (), t)
    return len(events) / (time.perf_counter() - start)


def naive_objects(pairs: Any, events: EventBatch) -> float:
    det = Detector(pairs, DetectionConfig(min_edge=100))
    start = time.perf_counter()
    rows = events.to_arrow().to_pylist()
    for row in rows:
        market = row["market"]
        if row["venue"] == "kalshi":
            book: Any = det.kalshi_book(market)
            side: Any = (Outcome.YES, Outcome.NO)[row["side"]]
        else:
            book = det.token_book(market)
            side = (Side.BID, Side.ASK)[row["side"]]
        kind = row["kind"]
        if kind == KIND_LEVEL:
            book.set_level(side, row["price"], row["size"], row["ts_ns"])
        elif kind == KIND_DELTA:
            book.apply_delta(side, row["price"], row["size"], row["ts_ns"])
        elif kind == KIND_CLEAR:
            book.apply_snapshot((), (), row["ts_ns"])
        else:
            continue
        getattr(det, "on_kalshi" if row["venue"] == "kalshi" else "on_token")(market, row["ts_ns"])
    return len(events) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    cfg = SyntheticConfig(pairs=args.pairs, days=args.days, events=args.events, seed=args.seed,
                          window_rate=0.001)
    pairs = make_pairs(args.pairs)
    t0 = time.perf_counter()
    generated = generate(cfg)
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="arbiter-bench-") as tmp:
        t0 = time.perf_counter()
        with EventWriter(tmp) as writer:
            writer.add_batch(generated)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        events = EventStore(tmp).load()
        load_s = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet")) / 1e6
    params = BacktestParams()
    Replayer(pairs, events.take(slice(0, 50_000)), params).run()  # warm-up
    best = 0.0
    result = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = Replayer(pairs, events, params).run()
        best = max(best, len(events) / (time.perf_counter() - start))
    assert result is not None
    figures: dict[str, Any] = {
        "events": len(events),
        "pairs": args.pairs,
        "days": args.days,
        "events_per_s": round(best),
        "floor_events_per_s": 200_000,
        "meets_floor": best >= 200_000,
        "sagas": len(result.sagas),
        "opportunities": result.opportunities,
        "orders": result.orders,
        "digest": result.digest(),
        "books_only_events_per_s": round(books_only(pairs, events)),
        "naive_objects_events_per_s": round(naive_objects(pairs, events)),
        "generate_s": round(gen_s, 2),
        "parquet_write_events_per_s": round(len(events) / write_s),
        "parquet_load_events_per_s": round(len(events) / load_s),
        "parquet_mb": round(size_mb, 1),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        # the build of the hot core this ran on (ADR 0155); bench.compiled runs both in one go
        "core": compiled().as_dict(),
    }
    print(
        f"backtest: {figures['events_per_s']:,} events/s over {len(events):,} events "
        f"({args.pairs} pairs, {args.days} days; {figures['sagas']} sagas, {figures['orders']} orders); "
        f"floor 200,000/s {'met' if figures['meets_floor'] else 'NOT met'}\n"
        f"  same data: books only {figures['books_only_events_per_s']:,}/s, naive object loop "
        f"{figures['naive_objects_events_per_s']:,}/s\n"
        f"  parquet: write {figures['parquet_write_events_per_s']:,}/s, load "
        f"{figures['parquet_load_events_per_s']:,}/s, {figures['parquet_mb']} MB; "
        f"load average {figures['load_average_1m']} on {figures['cpus']} cores"
    )
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "backtest.json").write_text(json.dumps(figures, indent=2) + "\n")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
