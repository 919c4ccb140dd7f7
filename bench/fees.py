"""What Polymarket's per-market taker fee costs the detector.

``python -m bench.fees [--events N] [--pairs P] [--json]``

Three figures, each the best of several runs on one core, written to ``bench/results/fees.json``:

* **per level**: ns per ``level_term`` call (the accumulator step every walked level pays) for
  the Kalshi model, Polymarket at the live linear curve (rate 0.04, exponent 1) and a squared
  curve (0.25, exponent 2);
* **per sizing search**: ns per exact ``optimise_size`` on a 5-level x 5-level window, Kalshi +
  a stated fee-free Polymarket market vs Kalshi + the live 0.04 curve;
* **per detection**: the core bench's stream (``bench.core``: book update + incremental
  detection per event) with every pair fee-free vs every pair at 0.04 — the difference per
  event and per sizing search is the fee computation's cost on the hot path.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.fees import FeeModel, PolymarketFeeModel, kalshi_taker
from arbiter.core.sizing import optimise_size
from arbiter.core.units import ONE_CONTRACT
from bench.core import make_pairs, make_stream, run

C = 100
LIVE = PolymarketFeeModel.of("0.04", 1)
FREE = PolymarketFeeModel.of("0", 1)
SQUARED = PolymarketFeeModel.of("0.25", 2)


def _best_ns(fn: Callable[[], Any], loops: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / loops)
    return best


def per_level(loops: int) -> dict[str, float]:
    prices = [p * C for p in range(5, 96)]
    size = 37 * ONE_CONTRACT

    def walk(model: FeeModel) -> Callable[[], Any]:
        term = model.level_term
        return lambda: [term(p, size) for p in prices]

    n = len(prices)
    return {
        name: round(_best_ns(walk(model), loops) / n, 1)
        for name, model in (("kalshi", kalshi_taker()), ("polymarket_0.04_e1", LIVE),
                            ("polymarket_0.25_e2", SQUARED))
    }


def per_search(loops: int) -> dict[str, float]:
    a = [(p * C, 40 * ONE_CONTRACT) for p in (44, 45, 46, 47, 48)]
    b = [(p * C, 40 * ONE_CONTRACT) for p in (50, 51, 52, 53, 54)]
    out = {}
    for name, model in (("fee_free", FREE), ("polymarket_0.04_e1", LIVE),
                        ("polymarket_0.25_e2", SQUARED)):
        out[name] = round(_best_ns(
            lambda m=model: optimise_size(a, b, kalshi_taker(), m, lot=ONE_CONTRACT), loops), 1)
    return out


def per_detection(events: int, pairs_n: int, seed: int, repeat: int = 7) -> dict[str, Any]:
    """Both variants alternate, best of ``repeat`` each: on a shared machine the load drifts
    between runs, and alternating keeps that drift out of the difference."""
    base = make_pairs(pairs_n)
    stream = make_stream(base, events, seed)
    config = DetectionConfig(max_contracts=500 * ONE_CONTRACT)
    now = 1_000_000_000
    variants = {name: [dataclasses.replace(p, polymarket_fee=model) for p in base]
                for name, model in (("fee_free", FREE), ("polymarket_0.04_e1", LIVE))}
    best = dict.fromkeys(variants, float("inf"))
    found = dict.fromkeys(variants, 0)
    searches: dict[str, int | None] = dict.fromkeys(variants, 0)
    for pairs in variants.values():
        run(Detector(pairs, config), stream[:20_000], now)  # warm-up
    for _ in range(repeat):
        for name, pairs in variants.items():
            detector = Detector(pairs, config)
            counter = _count_searches(detector)
            start = time.perf_counter_ns()
            found[name], _ = run(detector, stream, now)
            best[name] = min(best[name], time.perf_counter_ns() - start)
            searches[name] = counter()
    out: dict[str, Any] = {
        name: {"ns_per_event": round(best[name] / len(stream), 1), "opportunities": found[name],
               "sizing_searches": searches[name], "total_ms": round(best[name] / 1e6, 1)}
        for name in variants
    }
    free, live = out["fee_free"], out["polymarket_0.04_e1"]
    out["fee_cost_ns_per_event"] = round(live["ns_per_event"] - free["ns_per_event"], 1)
    if live["sizing_searches"]:
        out["fee_cost_us_per_search"] = round(
            (live["total_ms"] - free["total_ms"]) * 1000 / live["sizing_searches"], 2)
    return out


def _count_searches(detector: Detector) -> Callable[[], int | None]:
    """Count the exact sizing searches a pass runs (wraps the detector's bound method).

    None on the compiled core, whose methods cannot be replaced (ADR 0155); the counts are the
    same in both builds, so ``ARBITER_PURE=1`` gives them."""
    calls = [0]
    inner = detector._size

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return inner(*args)

    try:
        detector._size = counted  # type: ignore[method-assign]
    except AttributeError:
        return lambda: None
    return lambda: calls[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = {
        "level_term_ns": per_level(2_000),
        "optimise_size_ns": per_search(2_000),
        "detection": per_detection(args.events, args.pairs, args.seed),
        "events": args.events,
        "pairs": args.pairs,
        "python": sys.version.split()[0],
    }
    lv, sz, det = result["level_term_ns"], result["optimise_size_ns"], result["detection"]
    print(f"fees: level_term ns: kalshi {lv['kalshi']}, polymarket e1 {lv['polymarket_0.04_e1']}, "
          f"e2 {lv['polymarket_0.25_e2']}")
    print(f"fees: optimise_size ns (5x5 levels): fee-free {sz['fee_free']}, "
          f"0.04 e1 {sz['polymarket_0.04_e1']}, 0.25 e2 {sz['polymarket_0.25_e2']}")
    print(f"fees: detection ns/event: fee-free {det['fee_free']['ns_per_event']}, "
          f"0.04 e1 {det['polymarket_0.04_e1']['ns_per_event']} "
          f"({det['fee_cost_ns_per_event']:+} ns/event, "
          f"{det.get('fee_cost_us_per_search', 'n/a')} us per sizing search; "
          f"{det['polymarket_0.04_e1']['sizing_searches']} searches, "
          f"{det['fee_free']['opportunities']} -> {det['polymarket_0.04_e1']['opportunities']} "
          "opportunities)")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "fees.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
