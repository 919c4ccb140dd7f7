"""Per-event cost of the observability hooks on the tick path.

Measures what one call costs in the engine's hot loop: counting a tick, a book update, recording a
tick-to-order latency (Prometheus histogram + HDR histogram), an HDR record alone, a label folded
into "other" by the cap, and one JSON log line with context ids (written to an in-memory stream).

    python -m bench.observability --json

prints nanoseconds per call (median of 5 rounds) and writes bench/results/observability.json.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from arbiter.telemetry.latency import LatencyHistogram
from arbiter.telemetry.logging import configure, log_context
from arbiter.telemetry.metrics import Metrics

RESULTS = Path(__file__).resolve().parent / "results" / "observability.json"


def per_call_ns(fn: Callable[[int], None], n: int, rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for i in range(n):
            fn(i)
        samples.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(samples)


def run(n: int) -> dict[str, float]:
    m = Metrics(max_pairs=10)
    hist = LatencyHistogram()
    pairs = [f"PAIR-{i}" for i in range(10)]
    logger = logging.getLogger("bench.observability")
    logger.propagate = False
    handler = configure(logging.INFO, stream=io.StringIO(), logger=logger)
    try:
        with log_context(tenant_id="acme", saga_id="s-1"):
            out = {
                "tick_ns": per_call_ns(lambda i: m.tick("kalshi", 1.0), n),
                "book_update_ns": per_call_ns(lambda i: m.book_update("kalshi", pairs[i % 10]), n),
                "tick_to_order_ns": per_call_ns(
                    lambda i: m.tick_to_order_ns("kalshi", 150_000 + i % 5000), n),
                "hdr_record_ns": per_call_ns(lambda i: hist.record(150_000 + i % 5000), n),
                "capped_label_ns": per_call_ns(lambda i: m.book_update("kalshi", "overflow-pair"), n),
                "json_log_line_ns": per_call_ns(lambda i: logger.info("leg filled", extra={"step": "L1"}),
                                                max(n // 10, 1)),
            }
    finally:
        logger.removeHandler(handler)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="calls per round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = run(args.n)
    for key, value in out.items():
        print(f"{key:20s} {value:10.0f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
