"""Keeps the tick path's code and data in the CPU caches between frames (ADR 0067).

Measured on the 2-vCPU target, same CPU, nothing else to do, PM QoS held (the vCPU never
halts): detection plus sizing of one opportunity takes ~30 µs when it ran a moment ago and
~200 µs after 20 ms without running. The difference is cache misses: between two frames,
everything else that runs on the core (the host included) evicts the interpreter's code, the
code objects and the books. Running the same path every millisecond keeps it at ~40 µs. Trading
desks do the same thing when they push dummy orders through a hot path.

A rehearsal runs the live code on *shadow* objects, with no side effects:
- a Kalshi feed parses a delta frame for a copy of one traded pair;
- a detector prices that pair on books that always hold a window;
- the executor builds the risk check (on a shadow risk book), the plan, the journal record's
  bytes and leg 1's request bytes.

Nothing reaches a venue, a journal, the tenant's risk book or the live books.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from arbiter.core.book import KalshiBook
from arbiter.core.detection import DetectionConfig, Detector, Opportunity
from arbiter.core.pairs import Pair
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.units import PRICE_SCALE, SIZE_SCALE
from arbiter.execution.executor import SagaExecutor
from arbiter.venues.kalshi.config import KalshiConfig
from arbiter.venues.kalshi.ws import KalshiFeed

__all__ = ["PathWarmer", "build_warmer", "shadow_detector"]

log = logging.getLogger(__name__)

CENT = PRICE_SCALE // 100
#: contracts at the window's price: a few, like a real window's first level
_WINDOW = 5
#: contracts behind every other shadow level
_DEPTH = 500
#: the shadow feed's subscription id
_SID = 1
#: the shadow Kalshi YES bid, in cents: every Kalshi pass moves its size by one contract and back
_YES_BID = 30
#: the shadow Polymarket NO bid and ask, in cents
_NO_BID, _NO_ASK = 50, 52


def _fits(pair: Pair) -> bool:
    """The shadow books' prices are whole cents: both venues' ticks must divide a cent."""
    return max(pair.kalshi_tick, pair.polymarket_tick) <= CENT


def shadow_detector(pair: Pair, config: DetectionConfig) -> Detector:
    """A detector over ``pair`` alone whose books hold a window worth taking at every call.

    The window is on the Kalshi YES → Polymarket NO route: Kalshi YES ask $0.38 (5 contracts,
    then $0.50) against a Polymarket NO ask of $0.52, about 10 cents before fees. Every other
    route is closed. Detection therefore runs the same code as for a live opportunity: the price
    check, sizing, fee rounding and the opportunity's construction.
    """
    if not _fits(pair):
        raise ValueError(f"{pair.name}: shadow books need a tick of at most $0.01")
    detector = Detector([pair], config)
    window, depth = _WINDOW * SIZE_SCALE, _DEPTH * SIZE_SCALE
    detector.kalshi_book(pair.kalshi_ticker).apply_snapshot(
        [(_YES_BID * CENT, depth)], [(62 * CENT, window), (50 * CENT, depth)], 1)
    detector.token_book(pair.polymarket_yes_token).apply_snapshot(
        [(46 * CENT, depth)], [(48 * CENT, depth), (49 * CENT, depth)], 1)
    detector.token_book(pair.polymarket_no_token).apply_snapshot(
        [(_NO_BID * CENT, depth)], [(_NO_ASK * CENT, depth), ((_NO_ASK + 1) * CENT, depth)], 1)
    return detector


def _snapshot_frame(book: KalshiBook, seq: int) -> bytes:
    """The shadow Kalshi book as the venue's ``orderbook_snapshot`` frame (wire strings)."""

    def levels(ladder: Iterable[tuple[int, int]]) -> str:
        return ",".join(f'["0.{p // CENT:02d}","{s // SIZE_SCALE}.00"]' for p, s in ladder)

    return (
        f'{{"type":"orderbook_snapshot","sid":{_SID},"seq":{seq},"msg":{{"market_ticker":'
        f'"{book.ticker}","yes_dollars_fp":[{levels(book.yes_bids)}],'
        f'"no_dollars_fp":[{levels(book.no_bids)}],"ts_ms":{time.time_ns() // 1_000_000}}}}}'
    ).encode()


def build_warmer(pairs: Iterable[Pair], config: DetectionConfig,
                 interval_s: float) -> PathWarmer | None:
    """A warmer over the first pair the shadow books fit (tick of at most $0.01), or None.

    Never raises: the engine trades without warming rather than not at all.
    """
    for pair in pairs:
        if _fits(pair):
            try:
                return PathWarmer(pair, config, interval_s)
            except Exception:
                log.exception("tick-path warming is off: the shadow path failed to build")
                return None
    log.warning("tick-path warming is off: no pair has a tick of $0.01 or finer")
    return None


class PathWarmer:
    """Rehearses the tick path every ``interval_s`` on the tick path's own event loop.

    One pass is one loop turn (~0.1 ms hot, ~0.2 ms in the arbiter): a frame that arrives
    meanwhile waits at most that long. A rehearsal that raises is switched off and logged once;
    a pass that raises anywhere else ends the warming, logged. Warming is an optimisation and
    must never take the tick path down.
    """

    def __init__(self, pair: Pair, config: DetectionConfig, interval_s: float = 0.001,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.interval_s = interval_s
        self.clock_ns = clock_ns
        self.detector = shadow_detector(pair, config)
        ticker = pair.kalshi_ticker
        self._tokens = [self.detector.token_book(t)
                        for t in (pair.polymarket_yes_token, pair.polymarket_no_token)]
        self.feed = KalshiFeed(KalshiConfig(), None, [ticker], grids={ticker: pair.kalshi_price_grid},
                               check_grids=False, on_book=self._on_book)
        book = self.detector.kalshi_book(ticker)
        self.feed.books[ticker] = book
        self._seq = 1
        self._head = (f'{{"type":"orderbook_delta","sid":{_SID},"seq":').encode()
        self._tail = (f',"msg":{{"market_ticker":"{ticker}","side":"yes","price_dollars":'
                      f'"0.{_YES_BID:02d}","delta_fp":"').encode()
        self.rehearsals: list[Callable[[Opportunity], object]] = []
        self.runs = 0
        #: time spent rehearsing (perf counter ns): its share of the loop is the warmer's cost
        self.busy_ns = 0
        self._since = time.perf_counter_ns()
        #: the last pass's opportunity (None: the shadow books found none)
        self.last: Opportunity | None = None
        self.failed: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.feed.process(_snapshot_frame(book, self._seq))

    def add_executor(self, executor: SagaExecutor, limits: RiskLimits) -> None:
        """Rehearse ``executor``'s begin; its risk rules run on a shadow book under ``limits``."""
        shadow = RiskBook(limits)
        for venue in ("kalshi", "polymarket"):
            shadow.set_balance(venue, 10**9 * PRICE_SCALE * SIZE_SCALE)
        self.rehearsals.append(lambda opp: executor.rehearse(opp, shadow))

    def rehearse(self) -> Opportunity | None:
        """One pass: a Kalshi delta frame through the shadow feed, detection, every rehearsal.

        The frame moves the shadow YES bid's size by one contract and the next pass moves it
        back. Polymarket frames are not rehearsed: with a ``price_change`` through the
        market-channel parser in every pass, or alternating with the Kalshi frame, the
        Kalshi-led path measured slower (ADR 0067).
        """
        now = self.clock_ns()
        for token in self._tokens:  # never stale, whatever max_book_age the detector has
            token.ts_ns = now
        self.runs += 1
        self.last = None
        t0 = time.perf_counter_ns()
        self._seq += 1
        delta = b"1.00" if self._seq % 2 else b"-1.00"
        self.feed.process(b'%b%d%b%b","ts_ms":%d}}' % (
            self._head, self._seq, self._tail, delta, now // 1_000_000))
        self.busy_ns += time.perf_counter_ns() - t0
        return self.last

    def stats(self) -> dict[str, object]:
        """Passes run, the mean pass, the share of one CPU spent warming, what was switched off."""
        elapsed = max(1, time.perf_counter_ns() - self._since)
        return {"runs": self.runs, "rehearsals": len(self.rehearsals), "failed": list(self.failed),
                "pass_us": round(self.busy_ns / max(1, self.runs) / 1000, 1),
                "cpu_share": round(self.busy_ns / elapsed, 4)}

    def _on_book(self, book: KalshiBook) -> None:
        found = self.detector.on_kalshi(book.ticker, self.clock_ns())
        if not found:
            return
        opp = self.last = found[0]
        for rehearsal in list(self.rehearsals):
            try:
                rehearsal(opp)
            except Exception:
                name = getattr(rehearsal, "__qualname__", repr(rehearsal))
                log.exception("tick-path rehearsal %s failed; it is switched off", name)
                self.rehearsals.remove(rehearsal)
                self.failed.append(name)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.rehearse()
            except Exception:
                log.exception("tick-path warming stopped: a pass failed")
                self.failed.append("pass")
                return

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
