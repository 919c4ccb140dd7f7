"""Market-data parsers under hostile input: real frames, half of them mutated, zero escapes.

``python -m bench.fuzz [--json] [--frames N] [--seed S] [--venue polymarket|kalshi|all]``

Seeds are real frames: the Polymarket captures NautilusTrader publishes (copied verbatim into
``tests/venues/polymarket/fixtures/``) plus a consistent generated stream in the venue's current
wire form (``bench.polymarket_ws.make_frames``). Every other frame is mutated
(:func:`mutate`: deep nesting, a field of the wrong JSON type — ``event_type`` included —,
truncation, byte flips, dropped or duplicated keys, hostile numbers). Each frame goes through the
very entry point the live feed uses (``MarketBooks.apply_frame``; ``KalshiFeed.process``) and the
run reports:

* ``escapes``: exceptions that left the parser (must be 0: one ends a connection task);
* the book invariants over every book a frame touched: ``crossed`` (best bid >= best ask),
  ``negative`` (a size <= 0 or a price outside (0, 1)), ``off_grid`` (a price off the book's tick).

Exit status 1 when any of them is non-zero.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.polymarket_ws import make_frames

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "venues" / "polymarket" / "fixtures"

_HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**40, -(10**40), "", " ", "NaN", "Infinity", "-0", ".5",
    "0.50000000001", "1e999999", "-0.01", "0x10", "1" + "0" * 400, "\u0000", "\ud7ff\u202e",
    [], [1, 2], {}, {"a": {"b": []}}, "book", "price_change", "BUY", "SELL",
]
def _hostile(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(_HOSTILE))  # never share (and so never cycle) a value


_TYPES = ["book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask",
          "market_resolved", "new_market"]


def polymarket_seeds(n: int, seed: int) -> list[bytes]:
    """Real captures first, then the generated stream (its own books stay consistent)."""
    captured = [p.read_bytes() for p in sorted(FIXTURES.glob("*.json"))]
    return captured + make_frames(max(0, n - len(captured)), 20, seed)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:8]):
            out += _paths(item, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _drop(doc: Any, path: tuple[Any, ...]) -> Any:
    target = doc
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return doc


def mutate(frame: bytes, rng: random.Random) -> bytes:
    """One hostile variant of a frame (deterministic under ``rng``); any input, JSON or not."""
    try:
        return _mutate(frame, rng)
    except (ValueError, RecursionError):  # not JSON (any more): damage the bytes instead
        data = bytearray(frame or b"{}")
        data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)


def _mutate(frame: bytes, rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.12:  # byte-level damage
        data = bytearray(frame)
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice < 0.2:
        return frame[: rng.randrange(max(1, len(frame)))]
    if choice < 0.28:  # nesting bombs, whole frame or inside a field
        depth = rng.choice([64, 500, 2000, 20_000, 200_000])
        if rng.random() < 0.5:
            return b"[" * depth + frame + b"]" * depth
        doc = json.loads(frame)
        paths = _paths(doc)
        if not paths:
            return b"[" * depth + b"]" * depth
        doc = _set(doc, rng.choice(paths), "__BOMB__")
        bomb = b'{"x":' * depth + b"1" + b"}" * depth if rng.random() < 0.5 else (
            b"[" * depth + b"]" * depth)
        return json.dumps(doc).encode().replace(b'"__BOMB__"', bomb, 1)
    doc = json.loads(frame)
    paths = _paths(doc)
    if not paths:
        return json.dumps(_hostile(rng)).encode()
    for _ in range(rng.randint(1, 3)):
        paths = _paths(doc)
        if not paths:
            break
        path = rng.choice(paths)
        r = rng.random()
        if r < 0.15 and isinstance(doc, dict) and "event_type" in doc:
            doc["event_type"] = rng.choice(_TYPES) if rng.random() < 0.3 else _hostile(rng)
        elif r < 0.3:
            doc = _drop(doc, path)
        elif r < 0.4:
            inner = copy.deepcopy(doc)  # no cycles
            doc = _set(doc, path, [inner] if rng.random() < 0.5 else {"nested": inner})
        else:
            doc = _set(doc, path, _hostile(rng))
    if rng.random() < 0.1:
        doc = [doc, copy.deepcopy(doc)] if rng.random() < 0.5 else [doc, _hostile(rng)]
    return json.dumps(doc).encode()


def check_token_book(book: Any) -> Counter[str]:
    """Invariants of a core ``TokenBook``: never crossed, nothing negative, all on the grid."""
    bad: Counter[str] = Counter()
    bid, ask = book.best_bid, book.best_ask
    if bid is not None and ask is not None and bid >= ask:
        bad["crossed"] += 1
    for ladder in (book.bids, book.asks):
        for price, size in ladder:
            if size <= 0 or not 0 < price < 10_000:
                bad["negative"] += 1
            if price % book.tick:
                bad["off_grid"] += 1
    return bad


def run_polymarket(n: int, seed: int) -> dict[str, Any]:
    from arbiter.venues.polymarket.parsing import MarketBooks

    touched: set[str] = set()
    books = MarketBooks(on_change=touched.add, on_lifecycle=lambda _e: None)
    rng = random.Random(seed)
    seeds = polymarket_seeds(min(n, 20_000), seed)
    escapes: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    mutated = 0
    start = time.perf_counter()
    for i in range(n):
        frame = seeds[i % len(seeds)]
        if i % 2:
            frame = mutate(frame, rng)
            mutated += 1
        try:
            books.apply_frame(frame, i + 1)
        except BaseException as exc:  # what the bench exists to count
            if isinstance(exc, KeyboardInterrupt):
                raise
            escapes[type(exc).__name__] += 1
        for asset in touched:
            bad += check_token_book(books.books[asset])
        touched.clear()
    elapsed = time.perf_counter() - start
    stats = books.stats
    return {
        "frames": n, "mutated": mutated, "escapes": sum(escapes.values()),
        "escape_types": dict(escapes), "crossed": bad["crossed"], "negative": bad["negative"],
        "off_grid": bad["off_grid"], "malformed": stats.malformed, "errors": dict(stats.errors),
        "events": stats.events, "rejected": stats.rejected, "books": len(books.books),
        "frames_per_s": round(n / elapsed) if elapsed else None,
    }


def _kalshi_seeds(tickers: list[str], n: int, seed: int) -> list[bytes]:
    """Kalshi ``orderbook_snapshot`` + contiguous ``orderbook_delta`` frames (docs
    ``/websockets/orderbook-updates``: ``*_dollars`` price levels, ``*_fp`` counts)."""
    rng = random.Random(seed)
    frames: list[bytes] = []
    seq = {t: 1 for t in tickers}
    for sid, t in enumerate(tickers, start=1):
        frames.append(json.dumps({
            "type": "orderbook_snapshot", "sid": sid, "seq": 1,
            "msg": {"market_ticker": t, "market_id": f"id-{t}",
                    "yes_dollars_fp": [[f"0.{p:02d}00", "100.00"] for p in range(30, 45)],
                    "no_dollars_fp": [[f"0.{p:02d}00", "100.00"] for p in range(30, 45)]},
        }).encode())
    while len(frames) < n:
        sid = rng.randrange(len(tickers)) + 1
        t = tickers[sid - 1]
        seq[t] += 1
        frames.append(json.dumps({
            "type": "orderbook_delta", "sid": sid, "seq": seq[t],
            "msg": {"market_ticker": t, "market_id": f"id-{t}",
                    "price_dollars": f"0.{rng.randrange(30, 45):02d}00",
                    "delta_fp": rng.choice(["1.00", "-1.00"]),
                    "side": rng.choice(["yes", "no"])},
        }).encode())
    return frames


def run_kalshi(n: int, seed: int) -> dict[str, Any]:
    """``KalshiFeed.process`` (called, never edited here) over the same kind of mutations."""
    from arbiter.core.book import Outcome
    from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
    from arbiter.venues.kalshi.ws import KalshiFeed

    tickers = [f"FUZZ-{i:02d}" for i in range(8)]
    config = KalshiConfig(env=KalshiEnv.DEMO, rest_url="http://127.0.0.1:9/trade-api/v2",
                          ws_url="ws://127.0.0.1:9/trade-api/ws/v2")
    feed = KalshiFeed(config, None, tickers)  # frames only: never connects
    rng = random.Random(seed)
    seeds = _kalshi_seeds(tickers, min(n, 20_000), seed)
    escapes: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    process: Callable[[bytes], None] = feed.process  # type: ignore[assignment]
    start = time.perf_counter()
    for i in range(n):
        frame = seeds[i % len(seeds)]
        if i % 2:
            frame = mutate(frame, rng)
        try:
            process(frame)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            escapes[type(exc).__name__] += 1
        if i % 64 == 0:
            for book in feed.books.values():
                yes = book.best_bid(Outcome.YES)
                no = book.best_bid(Outcome.NO)
                if yes is not None and no is not None and yes + no >= 10_000:
                    bad["crossed"] += 1
                for outcome in (Outcome.YES, Outcome.NO):
                    for price, size in book.bids(outcome):
                        if size <= 0 or not 0 < price < 10_000:
                            bad["negative"] += 1
    elapsed = time.perf_counter() - start
    return {
        "frames": n, "mutated": n // 2, "escapes": sum(escapes.values()),
        "escape_types": dict(escapes), "crossed": bad["crossed"], "negative": bad["negative"],
        "malformed": feed.stats.malformed,
        "frames_per_s": round(n / elapsed) if elapsed else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--venue", choices=["polymarket", "kalshi", "all"], default="all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)  # the parsers log refused frames; the counts are here
    out: dict[str, Any] = {"bench": "fuzz", "seed": args.seed}
    if args.venue in ("polymarket", "all"):
        out["polymarket"] = run_polymarket(args.frames, args.seed)
    if args.venue in ("kalshi", "all"):
        out["kalshi"] = run_kalshi(args.frames, args.seed)
    failed = any(r["escapes"] or r["crossed"] or r["negative"] or r.get("off_grid")
                 for k, r in out.items() if isinstance(r, dict))
    out["ok"] = not failed
    if args.json:
        print(json.dumps(out))
    else:
        for venue in ("polymarket", "kalshi"):
            if venue in out:
                r = out[venue]
                print(f"{venue}: {r['frames']:,} frames ({r['mutated']:,} mutated): "
                      f"{r['escapes']} escapes {r['escape_types']}, crossed {r['crossed']}, "
                      f"negative {r['negative']}, off-grid {r.get('off_grid', '-')}, "
                      f"malformed {r['malformed']:,}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
