"""Seeded synthetic market data: multi-day, two venues driven by one fair value, arbitrage windows.

Tests, benchmarks and the demo need data with known structure and no licence: both venues quote
around a shared per-pair fair value (so they are correlated the way real paired markets are),
always with a positive combined spread (no free lunch), except inside *arbitrage windows*, where
one book is displaced for a short while (a slow market maker, a stale quote) so that buying both
sides costs less than $1. Everything comes from one ``random.Random(seed)``: same config, same
rows, on every machine.

The generator simulates each L2 book itself and only emits changes that keep it uncrossed:
a requote first removes the levels that go, then adds the new ones (every intermediate state is a
subset of the final, uncrossed one), so the core books accept the whole stream.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass

from arbiter.backtest.events import (
    KALSHI,
    KIND_CLEAR,
    KIND_DELTA,
    KIND_LEVEL,
    KIND_TRADE,
    POLYMARKET,
    EventBatch,
    EventBuilder,
)
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.units import ONE_CONTRACT, PRICE_SCALE, SIZE_SCALE, Size, size_str

__all__ = ["SyntheticConfig", "generate", "generate_chunks", "make_pairs", "pairs_toml"]

TICK = 100  # one cent in price units: the synthetic books quote on a cent grid
DAY_NS = 86_400 * 10**9
#: 2026-01-05 00:00:00 UTC, a Monday
DEFAULT_START_NS = 1_767_571_200 * 10**9


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    pairs: int = 8
    days: int = 2
    #: approximate number of rows (the generator stops at the first step past it)
    events: int = 100_000
    seed: int = 1
    start_ns: int = DEFAULT_START_NS
    #: resting levels per side
    levels: int = 3
    #: chance that a step opens an arbitrage window on the chosen pair
    window_rate: float = 0.004
    #: window length bounds, ns
    window_min_ns: int = 200_000_000
    window_max_ns: int = 3_000_000_000
    #: how far (cents) the cheap leg undercuts the no-arbitrage bound inside a window
    arb_min_ticks: int = 3
    arb_max_ticks: int = 7
    #: share of steps that print a trade
    trade_rate: float = 0.12
    #: share of steps that requote (the rest change one level's size)
    requote_rate: float = 0.2
    #: time the stream spans, ns; 0 = ``days`` whole days (a short span makes a dense stream)
    span_ns: int = 0


#: the synthetic markets' Polymarket taker fee: the "other" category's 0.05, exponent 1 (docs
#: ``/trading/fees``), and the venue's usual 5-share minimum
SYNTHETIC_PM_FEE = PolymarketFeeModel.of("0.05", 1)
SYNTHETIC_PM_MIN_SIZE = 5 * ONE_CONTRACT


def make_pairs(n: int) -> list[Pair]:
    """``n`` synthetic pairs (Kalshi taker fees, Polymarket category fees, cent ticks)."""
    return [
        Pair(f"syn-{i}", f"KXSYN-{i}", str(70_000 + 2 * i), str(70_001 + 2 * i),
             polymarket_fee=SYNTHETIC_PM_FEE, polymarket_min_order_size=Size(SYNTHETIC_PM_MIN_SIZE))
        for i in range(n)
    ]


def pairs_toml(pairs: list[Pair]) -> str:
    """The pairs file for ``pairs`` (so the CLI can replay synthetic data)."""
    out = []
    for p in pairs:
        out.append(
            f'[[pair]]\nname = "{p.name}"\nkalshi_ticker = "{p.kalshi_ticker}"\n'
            f'polymarket_yes_token = "{p.polymarket_yes_token}"\n'
            f'polymarket_no_token = "{p.polymarket_no_token}"\n'
            + _fee_lines(p)
        )
    return "\n".join(out)


def _fee_lines(p: Pair) -> str:
    lines = ""
    if p.polymarket_fee is not None:
        lines += (f'polymarket_fee_rate = "{p.polymarket_fee.rate_text}"\n'
                  f"polymarket_fee_exponent = {p.polymarket_fee.exponent}\n")
    if p.polymarket_min_order_size is not None:
        lines += f'polymarket_min_order_size = "{size_str(p.polymarket_min_order_size)}"\n'
    return lines


class _Book:
    """One simulated L2 book in its own price terms (cents); emits rows for its venue shape.

    Kalshi books are kept as YES bid/ask and published as YES bids (ladder 0) and NO bids
    (ladder 1, at 100 - ask) with ``DELTA`` rows; Polymarket tokens as bids (0) / asks (1) with
    absolute ``LEVEL`` rows.
    """

    __slots__ = ("asks", "bids", "kalshi", "key", "out")

    def __init__(self, key: str, kalshi: bool, out: EventBuilder) -> None:
        self.key = key
        self.kalshi = kalshi
        self.out = out
        self.bids: dict[int, int] = {}  # cents -> whole contracts
        self.asks: dict[int, int] = {}

    def _emit(self, ts: int, is_bid: bool, cents: int, old: int, new: int) -> None:
        if self.kalshi:
            ladder, price = (0, cents) if is_bid else (1, 100 - cents)
            self.out.add(ts, KALSHI, self.key, KIND_DELTA, ladder, price * TICK, (new - old) * SIZE_SCALE)
        else:
            self.out.add(ts, POLYMARKET, self.key, KIND_LEVEL, 0 if is_bid else 1, cents * TICK,
                         new * SIZE_SCALE)

    def set(self, ts: int, is_bid: bool, cents: int, size: int) -> None:
        side = self.bids if is_bid else self.asks
        old = side.get(cents, 0)
        if old == size:
            return
        if size:
            side[cents] = size
        else:
            del side[cents]
        self._emit(ts, is_bid, cents, old, size)

    def quote(self, ts: int, bid: int, ask: int, levels: int, rng: random.Random) -> None:
        new_bids = {bid - i for i in range(levels)}
        new_asks = {ask + i for i in range(levels)}
        for c in sorted(self.bids):
            if c not in new_bids:
                self.set(ts, True, c, 0)
        for c in sorted(self.asks):
            if c not in new_asks:
                self.set(ts, False, c, 0)
        for c in sorted(new_bids, reverse=True):
            if c not in self.bids:
                self.set(ts, True, c, rng.randint(5, 400))
        for c in sorted(new_asks):
            if c not in self.asks:
                self.set(ts, False, c, rng.randint(5, 400))

    def snapshot(self, ts: int) -> None:
        venue = KALSHI if self.kalshi else POLYMARKET
        self.out.add(ts, venue, self.key, KIND_CLEAR, 0, 0, 0)
        for c, s in sorted(self.bids.items()):
            self.out.add(ts, venue, self.key, KIND_LEVEL, 0, c * TICK, s * SIZE_SCALE)
        for c, s in sorted(self.asks.items()):
            if self.kalshi:
                self.out.add(ts, venue, self.key, KIND_LEVEL, 1, (100 - c) * TICK, s * SIZE_SCALE)
            else:
                self.out.add(ts, venue, self.key, KIND_LEVEL, 1, c * TICK, s * SIZE_SCALE)


@dataclass(slots=True)
class _PairSim:
    fair: int
    spread_k: int
    spread_p: int
    books: tuple[_Book, _Book, _Book]  # kalshi, poly yes, poly no
    #: cents each book is displaced by (an open window), per book
    shift: list[int]


def _targets(sim: _PairSim) -> list[tuple[int, int]]:
    """(bid, ask) in each book's own cents for the current fair value and shifts."""
    f, sk, sp = sim.fair, sim.spread_k, sim.spread_p
    return [
        (f - sk + sim.shift[0], f + sk + sim.shift[0]),
        (f - sp + sim.shift[1], f + sp + sim.shift[1]),
        (100 - f - sp + sim.shift[2], 100 - f + sp + sim.shift[2]),
    ]


def generate(config: SyntheticConfig | None = None) -> EventBatch:
    """Rows for ``config``: an opening snapshot of every book, then seeded updates."""
    return EventBatch.concat(list(generate_chunks(config)))


def generate_chunks(config: SyntheticConfig | None = None,
                    chunk_rows: int = 1 << 17) -> Iterator[EventBatch]:
    """The rows of :func:`generate` as consecutive batches of about ``chunk_rows`` rows, made
    as they are consumed: a stream of any length in bounded memory (the rows do not depend on
    ``chunk_rows``)."""
    cfg = config or SyntheticConfig()
    rng = random.Random(cfg.seed)
    out = EventBuilder()
    pairs = make_pairs(cfg.pairs)
    sims: list[_PairSim] = []
    ts = cfg.start_ns
    for p in pairs:
        sim = _PairSim(
            rng.randint(25, 75), rng.randint(1, 2), rng.randint(1, 2),
            (_Book(p.kalshi_ticker, True, out), _Book(p.polymarket_yes_token, False, out),
             _Book(p.polymarket_no_token, False, out)),
            [0, 0, 0],
        )
        for book, (bid, ask) in zip(sim.books, _targets(sim), strict=True):
            book.quote(ts, bid, ask, cfg.levels, rng)
        sims.append(sim)
    out.clear()  # the opening state goes out as snapshots, not as deltas from nothing
    for sim in sims:
        for book in sim.books:
            book.snapshot(ts)
    span = cfg.span_ns or cfg.days * DAY_NS
    mean_gap = max(1, span // max(1, cfg.events // 3))
    windows: list[tuple[int, int, int]] = []  # (end ts, pair index, book index)
    levels = cfg.levels
    emitted = 0
    while emitted + len(out) < cfg.events:
        if len(out) >= chunk_rows:
            emitted += len(out)
            yield _checked(out.build())
            out.clear()
        ts += 1 + int(rng.expovariate(1.0) * mean_gap)
        while windows and windows[0][0] <= ts:
            end, pi, bi = heapq.heappop(windows)
            sim = sims[pi]
            sim.shift[bi] = 0
            bid, ask = _targets(sim)[bi]
            sim.books[bi].quote(end, bid, ask, levels, rng)
        pi = rng.randrange(len(sims))
        sim = sims[pi]
        r = rng.random()
        if r < cfg.window_rate and not any(sim.shift):
            bi = rng.randrange(3)
            undercut = sim.spread_k + sim.spread_p + rng.randint(cfg.arb_min_ticks, cfg.arb_max_ticks)
            # poly tokens get cheaper; Kalshi moves either way (cheap YES or cheap NO)
            sim.shift[bi] = -undercut if bi or rng.random() < 0.5 else undercut
            bid, ask = _targets(sim)[bi]
            sim.books[bi].quote(ts, bid, ask, levels, rng)
            heapq.heappush(
                windows, (ts + rng.randint(cfg.window_min_ns, cfg.window_max_ns), pi, bi)
            )
            continue
        bi = rng.randrange(3)
        book = sim.books[bi]
        if r < cfg.window_rate + cfg.requote_rate:
            if rng.random() < 0.5:
                sim.fair = min(75, max(25, sim.fair + rng.choice((-1, 1))))
            targets = _targets(sim)
            for b, (bid, ask) in zip(sim.books, targets, strict=True):
                b.quote(ts, bid, ask, levels, rng)
        elif r < cfg.window_rate + cfg.requote_rate + cfg.trade_rate:
            is_bid = rng.random() < 0.5
            side = book.bids if is_bid else book.asks
            if not side:
                continue
            cents = max(side) if is_bid else min(side)
            have = side[cents]
            size = rng.randint(1, have)
            if book.kalshi:
                ladder, price = (0, cents) if is_bid else (1, 100 - cents)
                out.add(ts, KALSHI, book.key, KIND_TRADE, ladder, price * TICK, size * SIZE_SCALE)
            else:
                out.add(ts, POLYMARKET, book.key, KIND_TRADE, 0 if is_bid else 1, cents * TICK,
                        size * SIZE_SCALE)
            book.set(ts, is_bid, cents, have - size)
        else:
            is_bid = rng.random() < 0.5
            side = book.bids if is_bid else book.asks
            if not side:
                continue
            cents = rng.choice(sorted(side))
            book.set(ts, is_bid, cents, rng.randint(1, 400))
    if len(out):
        yield _checked(out.build())


def _checked(batch: EventBatch) -> EventBatch:
    assert int(batch.price.max(initial=0)) < PRICE_SCALE
    return batch
