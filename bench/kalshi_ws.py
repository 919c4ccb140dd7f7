"""Kalshi order book feed throughput: local Kalshi -> WebSocket -> parse -> core book apply.

The local Kalshi runs in its own process (``arbiter sim kalshi``) and publishes a firehose of
real ``orderbook_delta`` frames (pairs of +1/-1 contract changes, so the books stay comparable);
this process runs one :class:`~arbiter.venues.kalshi.ws.KalshiFeed`, exactly as a monitor would,
and measures delivered deltas per second and the per-frame parse+apply time. At the end the
feed's books are compared with the venue's. Floor 50,000 msgs/s, target 100,000.

    python -m bench.kalshi_ws [--count 300000] [--markets 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.core.book import Outcome
from arbiter.core.units import format_price, format_size
from arbiter.sim.common import admin_headers, new_admin_token
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.signing import Signer
from arbiter.venues.kalshi.ws import KalshiFeed
from bench.venue_process import venue_process

FLOOR = 50_000
TARGET = 100_000
RESULTS = Path(__file__).parent / "results" / "kalshi_ws.json"


def _setup(folder: Path, markets: int) -> tuple[Path, Path, Signer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "bench.pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    accounts = folder / "accounts.toml"
    accounts.write_text('[[account]]\napi_key_id = "bench"\npublic_key = "bench.pub.pem"\n'
                        'cash = "1000"\n')
    scenario = folder / "bench.toml"
    lines = ['name = "bench"', "step_ms = 60000"]
    for i in range(markets):
        lines += ["[[market]]", f'key = "BENCH-{i:02d}"', f'fair = "0.{30 + 4 * i:02d}"',
                  "volatility_ticks = 0", "levels = 5"]
    scenario.write_text("\n".join(lines) + "\n")
    return accounts, scenario, Signer("bench", key)


def _percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


async def _measure(rest_url: str, ws_url: str, signer: Signer, count: int,
                   admin_token: str) -> dict[str, Any]:
    base = rest_url.split("/trade-api/")[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{rest_url}/markets") as resp:
            tickers = [m["ticker"] for m in (await resp.json())["markets"]]
        config = KalshiConfig(env=KalshiEnv.DEMO, rest_url=rest_url, ws_url=ws_url)
        feed = KalshiFeed(config, signer, tickers)
        latencies: list[int] = []
        feed.latencies = latencies
        task = asyncio.create_task(feed.run())
        if not await feed.wait_synced(15):
            raise SystemExit("feed did not synchronise with the local Kalshi")
        latencies.clear()
        start_deltas = feed.stats.deltas
        async with http.post(f"{base}/_sim/firehose", json={"count": count},
                             headers=admin_headers(admin_token)) as resp:
            resp.raise_for_status()
        # clock starts at the first delivered delta, stops at the last
        while feed.stats.deltas == start_deltas:
            await asyncio.sleep(0.0005)
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        first = feed.stats.deltas
        deadline = t0 + 120
        while feed.stats.deltas - start_deltas < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        delivered = feed.stats.deltas - first
        async with http.get(f"{base}/_sim/state", headers=admin_headers(admin_token)) as resp:
            state = await resp.json()
        feed.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    mismatched = []
    for t in tickers:
        book = feed.books[t]
        ours = {
            "yes": sorted([format_price(p), format_size(s, 2)] for p, s in book.bids(Outcome.YES)),
            "no": sorted([format_price(p), format_size(s, 2)] for p, s in book.bids(Outcome.NO)),
        }
        theirs = {k: sorted(v) for k, v in state["books"][t].items()}
        if ours != theirs:
            mismatched.append(t)
    return {
        "msgs": feed.stats.deltas - start_deltas,
        "msgs_per_s": round(delivered / elapsed) if elapsed > 0 else 0,
        "elapsed_s": round(elapsed, 3),
        # CPU the monitor process spent per delivered delta: what a dedicated core would reach
        "msgs_per_cpu_s": round(delivered / cpu) if cpu > 0 else 0,
        "cpu_us_per_msg": round(cpu / delivered * 1e6, 2) if delivered else 0.0,
        "p50_apply_us": round(_percentile(latencies, 0.50) / 1000, 2),
        "p99_apply_us": round(_percentile(latencies, 0.99) / 1000, 2),
        "markets": len(tickers),
        "gaps": feed.stats.gaps,
        "malformed": feed.stats.malformed,
        "books_match": not mismatched,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300_000, help="deltas to publish")
    parser.add_argument("--markets", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        accounts, scenario, signer = _setup(Path(tmp), args.markets)
        token = new_admin_token()  # the local venue's test controls (firehose, state)
        with venue_process("kalshi", accounts, scenario, token) as (rest_url, ws_url):
            result = asyncio.run(_measure(rest_url, ws_url, signer, args.count, token))
    result.update({"floor_msgs_per_s": FLOOR, "target_msgs_per_s": TARGET,
                   "meets_floor": result["msgs_per_s"] >= FLOOR})
    print(f"kalshi ws: {result['msgs']} deltas over {result['markets']} markets in "
          f"{result['elapsed_s']} s = {result['msgs_per_s']:,} msgs/s "
          f"(floor {FLOOR:,}, target {TARGET:,}); monitor CPU {result['cpu_us_per_msg']} us/msg "
          f"= {result['msgs_per_cpu_s']:,} msgs per CPU-second; "
          f"parse+apply p50 {result['p50_apply_us']} us, "
          f"p99 {result['p99_apply_us']} us; books match venue: {result['books_match']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0 if result["books_match"] else 1


if __name__ == "__main__":
    sys.exit(main())
