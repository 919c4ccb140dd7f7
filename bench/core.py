"""Core hot path: book update + incremental detection, one core, deterministic synthetic stream.

``python -m bench.core [--json] [--events N] [--pairs P] [--profile]``

It runs on the build of the hot core this interpreter imports (the compiled one ``make venv``
built, or the pure sources with ``ARBITER_PURE=1``; the record's ``core`` says which).
``python -m bench.compiled`` runs this bench on both builds in one run.

The stream is generated before timing (seeded): 50 pairs, Kalshi ``orderbook_delta``-style
deltas and Polymarket ``price_change``-style absolute sizes around a per-pair fair price, with
short mispricing windows (about 1 event in 400) that open a real cross-venue arbitrage. Each event
is applied to its book and the touched pair is re-evaluated, exactly as the arbiter does.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from arbiter.core import compiled
from arbiter.core.book import BookError, Outcome, Side
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.units import ONE_CONTRACT, Size

C = 100
KALSHI, POLY = 0, 1


#: a politics-category Polymarket market (docs /trading/fees: 0.04, exponent 1), 5-share minimum
BENCH_PM_FEE = PolymarketFeeModel.of("0.04", 1)


def make_pairs(n: int) -> list[Pair]:
    return [
        Pair(f"pair-{i}", f"KX-{i}", str(10_000 + 2 * i), str(10_001 + 2 * i),
             polymarket_fee=BENCH_PM_FEE, polymarket_min_order_size=Size(5 * ONE_CONTRACT))
        for i in range(n)
    ]


def make_stream(pairs: list[Pair], events: int, seed: int) -> list[tuple[Any, ...]]:
    """Pre-generated events: (venue, key, outcome_or_side, price, amount)."""
    rng = random.Random(seed)
    fair = {p.name: rng.randint(20, 80) for p in pairs}
    kalshi_sizes: dict[tuple[str, Outcome, int], int] = {}
    out: list[tuple[Any, ...]] = []
    open_windows: list[tuple[int, str, int]] = []
    for i in range(events):
        if open_windows and open_windows[0][0] <= i:
            _, token, price = open_windows.pop(0)
            out.append((POLY, token, Side.ASK, price, 0))
            continue
        pair = pairs[rng.randrange(len(pairs))]
        f = fair[pair.name]
        r = rng.random()
        if r < 0.0025:  # mispricing: a cheap NO ask below the usual band
            price = (100 - f - 3) * C
            out.append((POLY, pair.polymarket_no_token, Side.ASK, price, rng.randint(5, 50) * ONE_CONTRACT))
            open_windows.append((i + rng.randint(2, 20), pair.polymarket_no_token, price))
        elif r < 0.5:
            outcome = Outcome.YES if rng.random() < 0.5 else Outcome.NO
            base = f if outcome is Outcome.YES else 100 - f
            price = rng.randint(base - 10, base - 1) * C
            key = (pair.kalshi_ticker, outcome, price)
            have = kalshi_sizes.get(key, 0)  # whole contracts resting at that level
            delta = rng.randint(-have, 100) if have else rng.randint(1, 100)
            kalshi_sizes[key] = have + delta
            out.append((KALSHI, pair.kalshi_ticker, outcome, price, delta * ONE_CONTRACT))
        else:
            yes = rng.random() < 0.5
            token = pair.polymarket_yes_token if yes else pair.polymarket_no_token
            base = f if yes else 100 - f
            if rng.random() < 0.5:
                side, price = Side.BID, rng.randint(base - 10, base - 4) * C
            else:
                side, price = Side.ASK, rng.randint(base + 1, base + 10) * C
            size = 0 if rng.random() < 0.2 else rng.randint(1, 500) * ONE_CONTRACT
            out.append((POLY, token, side, price, size))
    return out


def run(detector: Detector, stream: list[tuple[Any, ...]], now_ns: int) -> tuple[int, int]:
    """Apply + detect every event; returns (opportunities, rejected updates)."""
    found = rejected = 0
    kalshi_book, token_book = detector.kalshi_book, detector.token_book
    on_kalshi, on_token = detector.on_kalshi, detector.on_token
    for venue, key, which, price, amount in stream:
        try:
            if venue == KALSHI:
                kalshi_book(key).apply_delta(which, price, amount, now_ns)
                found += len(on_kalshi(key, now_ns))
            else:
                token_book(key).set_level(which, price, amount, now_ns)
                found += len(on_token(key, now_ns))
        except BookError:
            rejected += 1
    return found, rejected


def latencies(detector: Detector, stream: list[tuple[Any, ...]], now_ns: int) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for event in stream:
        start = clock()
        run(detector, [event], now_ns)
        out.append(clock() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of one pass")
    args = parser.parse_args(argv)

    pairs = make_pairs(args.pairs)
    stream = make_stream(pairs, args.events, args.seed)
    now = 1_000_000_000
    config = DetectionConfig(max_contracts=500 * ONE_CONTRACT)
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        with profiler:
            run(Detector(pairs, config), stream, now)
        print(profiler.output_text(unicode=False, color=False))
    run(Detector(pairs, config), stream[:20_000], now)  # warm-up
    best = 0.0
    found = rejected = 0
    for _ in range(3):
        detector = Detector(pairs, config)
        start = time.perf_counter()
        found, rejected = run(detector, stream, now)
        elapsed = time.perf_counter() - start
        best = max(best, len(stream) / elapsed)
    lat = sorted(latencies(Detector(pairs, config), stream[:200_000], now))
    result = {
        "events": len(stream),
        "pairs": args.pairs,
        "events_per_s": round(best),
        "p50_us": round(lat[len(lat) // 2] / 1000, 3),
        "p99_us": round(lat[int(len(lat) * 0.99)] / 1000, 3),
        "opportunities": found,
        "rejected_updates": rejected,
        "python": sys.version.split()[0],
        # the build of the hot core this ran on (ADR 0155); bench.compiled runs both in one go
        "core": compiled().as_dict(),
    }
    print(
        f"core: {result['events_per_s']:,} events/s over {len(stream):,} events, {args.pairs} pairs; "
        f"per event p50 {result['p50_us']} us, p99 {result['p99_us']} us; "
        f"{found} opportunities, {rejected} rejected updates"
    )
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "core.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
