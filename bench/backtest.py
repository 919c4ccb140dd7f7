"""Backtest replay throughput and memory: a rare-window and a dense-window workload.

``python -m bench.backtest [--json] [--events N] [--before CHECKOUT] [--rss-events N]``
``python -m bench.backtest --stream-only --events 50000000`` (bounded-memory run alone)

Data: the seeded synthetic two-venue generator (``arbiter.backtest.synthetic``), generated and
written to the Parquet event store chunk by chunk, then read back, as a recorded day would be.
Two workloads (:func:`scenarios`): *rare* (20 pairs over 3 days, windows rare: today's figure)
and *dense* (one pair, ~1 ms between updates, windows open for a large share of the rows, most
of each window spent while the pair gate is closed). Per workload: the full replay (books →
gate → detection on the touched pair → risk → saga executor → simulated exchanges) over the
loaded batch, and the same replay streamed from the store (``EventStore.batches``, bounded
memory, same digest), the share of rows inside windows, and the detections the gate skipped.

Comparison on the same data (same process, same rows):
* ``books_only``: the same rows applied to the same core books by the replay's own (compiled)
  row loop with no detection/execution (the floor any replay of this data pays);
  ``books_only_python_loop``: the same through a plain Python loop (the loop before ADR 0174);
* ``naive_objects``: the textbook event-driven loop, one Python object per event built from the
  Arrow rows (``to_pylist``) and dispatched through ``getattr`` — what a replay without columnar
  storage does;
* ``--before CHECKOUT``: the same stores replayed by another checkout's code in its own venv
  (a same-run before/after figure);
* ``--rss-events N``: fresh processes stream N/10 and N generated events straight into the
  replay and report their peak RSS (it must not grow with N).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from arbiter.backtest.events import KIND_CLEAR, KIND_DELTA, KIND_LEVEL, POLYMARKET, EventBatch
from arbiter.backtest.replay import BacktestParams, BacktestResult, Replayer
from arbiter.backtest.storage import EventStore, EventWriter
from arbiter.backtest.synthetic import SyntheticConfig, generate_chunks, make_pairs
from arbiter.core import compiled
from arbiter.core.book import BookError, KalshiBook, Outcome, Side
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.gate import PairGate
from arbiter.core.tape import SIDE_SHIFT, Tape
from arbiter.core.units import PRICE_SCALE


def books_only(pairs: Any, events: EventBatch) -> float:
    """The replay's own row loop (:class:`~arbiter.core.tape.Tape`, compiled with the books)
    over the same rows with no detection point flagged: every row applied to its core book,
    nothing else. Best of three passes over fresh books."""
    best = 0.0
    for _ in range(3):
        det = Detector(pairs, DetectionConfig())
        tape = Tape(det, PairGate(), len(pairs))
        for name, venue in zip(events.markets, _venues_of(events), strict=True):
            kalshi = venue != POLYMARKET and det.tracks_kalshi(name)
            token = venue == POLYMARKET and det.tracks_token(name)
            tape.add_market(det.kalshi_book(name) if kalshi else None,
                            det.token_book(name) if token else None, name, "", 0)
        code = (events.kind.astype(np.int64) | (events.side.astype(np.int64) << SIDE_SHIFT))
        cols = (events.ts_ns.tolist(), events.market.tolist(), code.tolist(),
                events.price.tolist(), events.size.tolist())
        start = time.perf_counter()
        tape.load(*cols)
        tape.advance(2**62 - 1)
        best = max(best, len(events) / (time.perf_counter() - start))
    return best


def books_only_python_loop(pairs: Any, events: EventBatch) -> float:
    """The same rows through a plain Python loop calling the (compiled) books: what the replay's
    loop cost before it was compiled (ADR 0174)."""
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


def _venues_of(events: EventBatch) -> list[int]:
    """Each market's venue code (from one of its rows; every row of a market has its venue)."""
    row = np.zeros(max(1, len(events.markets)), dtype=np.int64)
    row[events.market] = np.arange(len(events))
    return [int(events.venue[i]) for i in row[: len(events.markets)].tolist()]


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


#: the code a before/after comparison runs in the other checkout: the same scenario store,
#: replayed the way that code can (whole store loaded, then the replay timed)
_BEFORE = r"""
import json, resource, sys, time
from arbiter.backtest.replay import BacktestParams, Replayer
from arbiter.backtest.storage import EventStore
from arbiter.backtest.synthetic import make_pairs
store, n_pairs, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pairs = make_pairs(n_pairs)
events = EventStore(store).load()
Replayer(pairs, events.take(slice(0, 50_000)), BacktestParams()).run()
best, cpu, result = 0.0, 0.0, None
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    result = Replayer(pairs, events, BacktestParams()).run()
    best = max(best, len(events) / (time.perf_counter() - t))
    cpu = max(cpu, len(events) / (time.process_time() - c))
print(json.dumps({"events_per_s": round(best), "events_per_cpu_s": round(cpu),
                  "sagas": len(result.sagas),
                  "opportunities": result.opportunities, "orders": result.orders,
                  "digest": result.digest(),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def scenarios(events: int, seed: int, pairs: int, days: int) -> dict[str, tuple[SyntheticConfig, int]]:
    """The two workloads: today's rare windows across many pairs over days, and one pair whose
    windows are open for a large share of a dense stream (~1 ms between updates, as a liquid
    market is), where the gate holds the pair closed for most of each window."""
    rare = SyntheticConfig(pairs=pairs, days=days, events=events, seed=seed, window_rate=0.001)
    # requotes (which move the fair value) on 2% of steps, not 20%: at one update per ms the
    # default would walk the price a cent every ~10 ms, faster than the legs' latency, and the
    # failed hedges would trip the kill switch within seconds (every later window refused)
    dense = SyntheticConfig(pairs=1, events=events, seed=seed, window_rate=0.002,
                            requote_rate=0.02, span_ns=max(1, events // 3) * 1_040_000)
    return {"rare": (rare, pairs), "dense": (dense, 1)}


def window_share(pairs: Any, events: EventBatch, min_edge: int) -> float:
    """Share of rows after which some route of the row's pair has best asks + edge below $1
    (an arbitrage window as detection's first test sees it; fees not counted)."""
    det = Detector(pairs, DetectionConfig())
    limit = PRICE_SCALE - min_edge
    routes: dict[str, list[tuple[Any, Any]]] = {}
    for p in pairs:
        k = det.kalshi_book(p.kalshi_ticker)
        y, n = det.token_book(p.polymarket_yes_token), det.token_book(p.polymarket_no_token)
        routes[p.name] = [(lambda k=k: k.best_ask(Outcome.YES), lambda n=n: n.best_ask),
                          (lambda k=k: k.best_ask(Outcome.NO), lambda y=y: y.best_ask),
                          (lambda y=y: y.best_ask, lambda n=n: n.best_ask)]
    pair_of = {key: p.name for p in pairs
               for key in (p.kalshi_ticker, p.polymarket_yes_token, p.polymarket_no_token)}
    books = [det.kalshi_book(m) if det.tracks_kalshi(m) else det.token_book(m) for m in events.markets]
    sides = [(Outcome.YES, Outcome.NO) if isinstance(b, KalshiBook) else (Side.BID, Side.ASK)
             for b in books]
    checks = [routes[pair_of[m]] for m in events.markets]
    inside = 0
    for t, m, k, s, p, z in zip(events.ts_ns.tolist(), events.market.tolist(), events.kind.tolist(),
                                events.side.tolist(), events.price.tolist(), events.size.tolist(),
                                strict=True):
        b = books[m]
        try:
            if k == KIND_LEVEL:
                b.set_level(sides[m][s], p, z, t)
            elif k == KIND_DELTA:
                b.apply_delta(sides[m][s], p, z, t)  # type: ignore[union-attr]
            elif k == KIND_CLEAR:
                b.apply_snapshot((), (), t)
        except BookError:
            pass
        for a, c in checks[m]:
            pa_, pc = a(), c()
            if pa_ is not None and pc is not None and pa_ + pc < limit:
                inside += 1
                break
    return inside / max(1, len(events))


def write_store(root: str, cfg: SyntheticConfig) -> float:
    """The scenario's rows into a Parquet store, generated and written chunk by chunk; s."""
    t0 = time.perf_counter()
    with EventWriter(root) as writer:
        for chunk in generate_chunks(cfg):
            writer.add_batch(chunk)
    return time.perf_counter() - t0


def replay_rate(pairs: Any, source: Any, n: int, repeat: int
                ) -> tuple[float, float, BacktestResult]:
    """Best wall-clock and best CPU-time rate of ``repeat`` runs (on a shared machine the CPU
    figure moves less with other users' load), and the last result."""
    best, cpu, result = 0.0, 0.0, None
    for _ in range(repeat):
        start, cstart = time.perf_counter(), time.process_time()
        result = Replayer(pairs, source() if callable(source) else source, BacktestParams()).run()
        best = max(best, n / (time.perf_counter() - start))
        cpu = max(cpu, n / (time.process_time() - cstart))
    assert result is not None
    return best, cpu, result


def peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def stream_only(events: int, seed: int, pairs: int, days: int, scenario: str) -> dict[str, Any]:
    """``--stream-only``: generate the scenario on the fly, chunk by chunk, straight into the
    replay (nothing held but the current chunk): events/s and this process's peak RSS."""
    # as many days per million events as the rare workload has (a longer stream is a longer
    # recording, not a denser one: the same share of windows, sagas all along)
    days = max(days, round(days * events / 1_000_000))
    cfg, n_pairs = scenarios(events, seed, pairs, days)[scenario]
    start = time.perf_counter()
    result = Replayer(make_pairs(n_pairs), generate_chunks(cfg), BacktestParams()).run()
    elapsed = time.perf_counter() - start
    return {"scenario": scenario, "events": result.events,
            "events_per_s_incl_generation": round(result.events / elapsed),
            "seconds": round(elapsed, 1), "days": days, "sagas": len(result.sagas),
            "risk_rejected": result.risk_rejected, "digest": result.digest(),
            "peak_rss_mb": peak_rss_mb()}


def _subprocess_json(cmd: list[str], cwd: str) -> dict[str, Any]:
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": cwd})
    got: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenario", choices=("rare", "dense"), default="rare",
                        help="with --stream-only: which workload")
    parser.add_argument("--stream-only", action="store_true",
                        help="only the bounded-memory run: generated on the fly into the replay "
                             "(use with --events 50000000); prints events/s and peak RSS")
    parser.add_argument("--before", metavar="CHECKOUT",
                        help="also replay the same stores with the code of another checkout "
                             "(e.g. /work/main) in its own venv, for a same-run comparison")
    parser.add_argument("--rss-events", type=int, default=0,
                        help="also run --stream-only in fresh processes at this size and at a "
                             "tenth of it (peak RSS must not grow with the events)")
    args = parser.parse_args(argv)
    if args.stream_only:
        figures = stream_only(args.events, args.seed, args.pairs, args.days, args.scenario)
        print(json.dumps(figures))
        return 0
    root = Path(__file__).resolve().parents[1]
    figures: dict[str, Any] = {
        "events": args.events, "python": sys.version.split()[0], "cpus": os.cpu_count(),
        "floors_events_per_s": {"rare": 1_000_000, "dense": 600_000, "books_only": 3_000_000},
        "core": compiled().as_dict(),  # which build of the hot core ran (ADR 0155)
    }
    with tempfile.TemporaryDirectory(prefix="arbiter-bench-") as tmp:
        for name, (cfg, n_pairs) in scenarios(args.events, args.seed, args.pairs, args.days).items():
            pairs = make_pairs(n_pairs)
            store = str(Path(tmp) / name)
            write_s = write_store(store, cfg)
            t0 = time.perf_counter()
            events = EventStore(store).load()
            load_s = time.perf_counter() - t0
            Replayer(pairs, events.take(slice(0, 50_000)), BacktestParams()).run()  # warm-up
            rate, cpu_rate, result = replay_rate(pairs, events, len(events), args.repeat)
            streamed, _, sresult = replay_rate(
                pairs, lambda store=store: EventStore(store).batches(), len(events), 1)
            fig: dict[str, Any] = {
                "pairs": n_pairs, "events": len(events),
                "events_per_s": round(rate),
                "events_per_cpu_s": round(cpu_rate),
                "streamed_from_store_events_per_s": round(streamed),
                "same_digest_streamed": sresult.digest() == result.digest(),
                "floor_events_per_s": figures["floors_events_per_s"][name],
                "meets_floor": rate >= figures["floors_events_per_s"][name],
                "sagas": len(result.sagas), "opportunities": result.opportunities,
                "gated_detections": result.gated,
                "gated_share": round(result.gated / max(1, len(events)), 3),
                "risk_rejected": result.risk_rejected, "orders": result.orders,
                "digest": result.digest(),
                "in_window_share": round(window_share(pairs, events, BacktestParams().min_edge), 3),
                "parquet_write_events_per_s": round(len(events) / write_s),
                "parquet_load_events_per_s": round(len(events) / load_s),
                "parquet_mb": round(sum(p.stat().st_size for p in Path(store).rglob("*.parquet"))
                                    / 1e6, 1),
            }
            if name == "rare":
                fig["books_only_events_per_s"] = round(books_only(pairs, events))
                fig["books_only_python_loop_events_per_s"] = round(
                    books_only_python_loop(pairs, events))
                fig["naive_objects_events_per_s"] = round(naive_objects(pairs, events))
            if args.before:
                fig["before"] = _subprocess_json(
                    [str(Path(args.before) / ".venv/bin/python"), "-c", _BEFORE, store,
                     str(n_pairs), str(args.repeat)], args.before)
                fig["speedup"] = round(rate / fig["before"]["events_per_s"], 2)
                fig["speedup_cpu"] = round(cpu_rate / fig["before"]["events_per_cpu_s"], 2)
            figures[name] = fig
            del events
    figures["peak_rss_mb_in_memory_bench"] = peak_rss_mb()
    if args.rss_events:
        figures["bounded_memory"] = [
            _subprocess_json([sys.executable, "-m", "bench.backtest", "--stream-only",
                              "--events", str(n), "--scenario", "rare", "--seed", str(args.seed)],
                             str(root))
            for n in (args.rss_events // 10, args.rss_events)
        ]
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    for name in ("rare", "dense"):
        f = figures[name]
        before = f.get("before")
        print(f"backtest {name} ({f['pairs']} pairs, {f['events']:,} events, "
              f"{f['in_window_share']:.0%} inside windows; {f['sagas']} sagas, "
              f"{f['gated_detections']:,} detection points ({f['gated_share']:.0%} of rows) skipped by "
              f"the gate): {f['events_per_s']:,} events/s "
              f"({f['events_per_cpu_s']:,}/CPU-s) "
              f"(floor {f['floor_events_per_s']:,}: {'met' if f['meets_floor'] else 'NOT met'}); "
              f"streamed from the store {f['streamed_from_store_events_per_s']:,}/s, digest "
              f"{'identical' if f['same_digest_streamed'] else 'DIFFERENT'}"
              + (f"; before {before['events_per_s']:,}/s ({before['events_per_cpu_s']:,}/CPU-s, "
                 f"{before['sagas']} sagas), x{f['speedup']} (CPU x{f['speedup_cpu']})"
                 if before else ""))
    rare = figures["rare"]
    books = rare["books_only_events_per_s"]
    print(f"  same rows: books only {books:,}/s (floor 3,000,000: "
          f"{'met' if books >= 3_000_000 else 'NOT met'}; a Python loop over the same books "
          f"{rare['books_only_python_loop_events_per_s']:,}/s), naive object loop "
          f"{rare['naive_objects_events_per_s']:,}/s; parquet write "
          f"{rare['parquet_write_events_per_s']:,}/s, load {rare['parquet_load_events_per_s']:,}/s")
    for run in figures.get("bounded_memory", []):
        print(f"  bounded memory: {run['events']:,} events generated on the fly into the replay, "
              f"{run['events_per_s_incl_generation']:,}/s incl. generation, peak RSS "
              f"{run['peak_rss_mb']:,} MB")
    print(f"  load average {figures['load_average_1m']} on {figures['cpus']} cores")
    core = figures["core"]
    build = f"compiled ({core.get('build')})" if core.get("compiled") else "pure Python"
    print(f"  hot core: {build} (ARBITER_PURE=1 for the other; bench.compiled runs both)")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "backtest.json").write_text(json.dumps(figures, indent=2) + "\n")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
