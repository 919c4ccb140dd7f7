"""Peer comparison: hftbacktest (Rust core, numba strategy loop) on the same rows as bench.backtest.

Two steps, because hftbacktest and its numba stack are not project dependencies:

    python -m bench.peer_hftbacktest --export /tmp/peer.npz          # project venv: same data
    /path/to/venv-with-hftbacktest/bin/python bench/peer_hftbacktest.py --run /tmp/peer.npz --json

The export turns every market of the synthetic stream into one hftbacktest asset on a YES price
axis (Kalshi NO bids become YES asks at 1 - q), with absolute depth rows (Kalshi deltas are
accumulated first) and trade rows; zero feed latency. ``--run`` measures (a) the pure replay
(``elapse`` over the whole span) and (b) an ``njit`` loop that, on every feed, checks all pairs'
three buy-both routes on best asks, which is more checking than arbiter's touched-pair detection
but none of its sizing, risk, saga or simulated-exchange work. Results: bench/results/peer.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEPTH, TRADE = 1, 2
EXCH, LOCAL, BUY, SELL = 1 << 31, 1 << 30, 1 << 29, 1 << 28


def export(path: str, events: int, pairs: int, days: int, seed: int) -> None:
    from arbiter.backtest.events import KALSHI, KIND_DELTA, KIND_LEVEL, KIND_TRADE
    from arbiter.backtest.synthetic import SyntheticConfig, generate, make_pairs

    batch = generate(SyntheticConfig(pairs=pairs, days=days, events=events, seed=seed,
                                     window_rate=0.001))
    names = batch.markets
    rows: dict[int, list[tuple[int, int, int, float, float, int, int, float]]] = {
        i: [] for i in range(len(names))}
    sizes: dict[tuple[int, int, int], int] = {}
    for ts, venue, m, kind, side, price, size in zip(
        batch.ts_ns.tolist(), batch.venue.tolist(), batch.market.tolist(), batch.kind.tolist(),
        batch.side.tolist(), batch.price.tolist(), batch.size.tolist(), strict=True,
    ):
        if kind not in (KIND_DELTA, KIND_LEVEL, KIND_TRADE):
            continue
        if venue == KALSHI:
            flag, px = (BUY, price) if side == 0 else (SELL, 10_000 - price)
        else:
            flag, px = (BUY, price) if side == 0 else (SELL, price)
        if kind == KIND_TRADE:
            # a print against resting bids is a sell-initiated trade, and vice versa
            ev = TRADE | EXCH | LOCAL | (SELL if flag == BUY else BUY)
            rows[m].append((ev, ts, ts, px / 1e4, size / 1e6, 0, 0, 0.0))
            continue
        key = (m, side, price)
        new = sizes.get(key, 0) + size if kind == KIND_DELTA else size
        sizes[key] = new
        rows[m].append((DEPTH | EXCH | LOCAL | flag, ts, ts, px / 1e4, new / 1e6, 0, 0, 0.0))
    dtype = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"),
                      ("qty", "f8"), ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")], align=True)
    arrays = {f"m{i}": np.array(r, dtype=dtype) for i, r in rows.items()}
    index = {name: i for i, name in enumerate(names)}
    routes = []
    for p in make_pairs(pairs):
        k, y, n = index[p.kalshi_ticker], index[p.polymarket_yes_token], index[p.polymarket_no_token]
        routes.append((k, y, n))
    np.savez(path, routes=np.array(routes, dtype=np.int64), total=np.array([len(batch)]), **arrays)
    print(f"exported {len(batch):,} rows as {len(names)} assets to {path}")


def run(path: str) -> dict[str, Any]:
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    from numba import njit

    data = np.load(path)
    routes = data["routes"]
    total = int(data["total"][0])
    n_assets = len([k for k in data.files if k.startswith("m")])
    arrays = [data[f"m{i}"] for i in range(n_assets)]
    start_ts = min(int(a["exch_ts"][0]) for a in arrays if len(a))
    end_ts = max(int(a["exch_ts"][-1]) for a in arrays if len(a))

    def build() -> Any:
        assets = [
            BacktestAsset().data(a).linear_asset(1.0).constant_order_latency(0, 0)
            .risk_adverse_queue_model().no_partial_fill_exchange()
            .trading_value_fee_model(0.0, 0.0).tick_size(0.01).lot_size(1.0)
            for a in arrays
        ]
        return HashMapMarketDepthBacktest(assets)

    @njit  # type: ignore[misc]
    def replay_only(hbt: Any, span: int) -> int:
        hbt.elapse(span)
        return 0

    @njit  # type: ignore[misc]
    def detect_loop(hbt: Any, routes: Any) -> int:
        found = 0
        while hbt.wait_next_feed(False, 10**15) == 2:
            for r in range(routes.shape[0]):
                k = hbt.depth(routes[r, 0])
                y = hbt.depth(routes[r, 1])
                n = hbt.depth(routes[r, 2])
                # kalshi YES ask + poly NO ask, kalshi NO ask (1 - YES bid) + poly YES ask,
                # poly YES ask + poly NO ask
                if k.best_ask + n.best_ask < 0.99:
                    found += 1
                if (1.0 - k.best_bid) + y.best_ask < 0.99:
                    found += 1
                if y.best_ask + n.best_ask < 0.99:
                    found += 1
        return found

    # compile on a throw-away instance so JIT time is not measured
    replay_only(build(), 1)
    detect_loop(build(), routes[:1])
    hbt = build()
    t0 = time.perf_counter()
    replay_only(hbt, end_ts - start_ts + 1)
    pure = time.perf_counter() - t0
    hbt.close()
    hbt = build()
    t0 = time.perf_counter()
    hits = detect_loop(hbt, routes)
    loop = time.perf_counter() - t0
    hbt.close()
    return {
        "events": total, "assets": n_assets,
        "replay_only_events_per_s": round(total / pure),
        "detect_loop_events_per_s": round(total / loop), "detect_hits": int(hits),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--export")
    parser.add_argument("--run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.export:
        export(args.export, args.events, args.pairs, args.days, args.seed)
        return 0
    if not args.run:
        parser.error("give --export FILE or --run FILE")
    figures = run(args.run)
    print(f"hftbacktest: replay only {figures['replay_only_events_per_s']:,} events/s; "
          f"with an all-pairs top-of-book check per feed {figures['detect_loop_events_per_s']:,}"
          f" events/s ({figures['events']:,} rows, {figures['assets']} assets)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "peer.json").write_text(json.dumps(figures, indent=2) + "\n")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
