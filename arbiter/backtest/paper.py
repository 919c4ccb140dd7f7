"""Paper trading: the live engine's execution against live (or local) books, filled by simulation.

The engine keeps its feeds, detector, risk manager and saga executor; only the venue clients are
replaced by :class:`~arbiter.backtest.sim_exchange.SimExchange` instances that read the same
live core books the feeds maintain and wait on the wall clock for their latency. Orders never
leave the process, fills follow the backtest's rules (partial fills against displayed depth,
FIFO queue position), so paper and backtest results are directly comparable, and the
paper-vs-live report (:func:`arbiter.backtest.report.comparison_report`) can compare a paper run
with a live one over the same period.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from arbiter.backtest.clock import Clock, WallClock
from arbiter.backtest.sim_exchange import (
    FixedLatency,
    LatencyModel,
    QueueModel,
    SimExchange,
    fee_maps,
)
from arbiter.backtest.storage import EngineStore
from arbiter.core.book import KalshiBook, Outcome, TokenBook
from arbiter.core.detection import DetectionConfig, Detector, Opportunity
from arbiter.core.gate import GateConfig, PairGate, best_first
from arbiter.core.pairs import Pair
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import Saga
from arbiter.core.units import MONEY_SCALE
from arbiter.execution.executor import SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.risk_manager import RiskManager

__all__ = ["PaperSession", "PaperStats", "paper_clients"]


def paper_clients(
    pairs: Sequence[Pair],
    kalshi_book: Callable[[str], KalshiBook],
    token_book: Callable[[str], TokenBook],
    *,
    clock: Clock | None = None,
    latency: dict[str, LatencyModel] | None = None,
    queue_model: QueueModel = QueueModel.FIFO,
    cash_dollars: int = 10_000,
    seed: int = 0,
) -> dict[str, SimExchange]:
    """One simulated client per venue over the live books (e.g. ``detector.kalshi_book``).

    Feeds that want resting-order queue tracking call ``client.on_level`` / ``on_trade`` for the
    markets in ``client.watched``; taker (IOC) orders, which is all the saga sends, need nothing.
    """
    clock = clock or WallClock()
    latency = latency or {}
    kfees, pfees = fee_maps(pairs)
    return {
        "kalshi": SimExchange("kalshi", kalshi_book, clock,
                              latency=latency.get("kalshi", FixedLatency()),
                              queue_model=queue_model, taker_fees=kfees,
                              cash=cash_dollars * MONEY_SCALE, seed=seed),
        "polymarket": SimExchange("polymarket", token_book, clock,
                                  latency=latency.get("polymarket", FixedLatency()),
                                  queue_model=queue_model, taker_fees=pfees,
                                  cash=cash_dollars * MONEY_SCALE, seed=seed),
    }


@dataclass(slots=True)
class PaperStats:
    opportunities: int = 0
    skipped_busy: int = 0
    sagas: list[Saga] = field(default_factory=list)


class PaperSession:
    """Live market data → core detector → engine risk manager + saga executor → simulated fills.

    The venue feeds of an engine config (real venues or the local simulators) update the
    detector's own books in place; every change re-evaluates the touched pair, and an
    opportunity the engine's pair gate admits (busy, cooldown, max open sagas: ADR 0150; a
    closed pair is not even detected) goes to the engine's executor, whose clients
    are :func:`paper_clients` over those same books on the wall clock. Nothing is ever sent to a
    venue: the feeds are read-only market data.
    """

    def __init__(self, config_path: str, journal_path: str, *,
                 detection: DetectionConfig | None = None,
                 limits: RiskLimits | None = None,
                 latency: dict[str, LatencyModel] | None = None,
                 cash_dollars: int = 10_000,
                 store: EngineStore | None = None, run_label: str = "paper",
                 gate: GateConfig | None = None) -> None:
        from arbiter.app.config import load_config
        from arbiter.backtest.recorder import build_feeds

        self._pending: list[str] = []
        self._config_path = config_path
        #: pairs kept out because their Polymarket market data could not be read at start
        self.market_refused: dict[str, str] = {}
        self.feeds, pairs = build_feeds(config_path, self._changed)
        self.pairs = {p.name: p for p in pairs}
        self.detector = Detector(pairs, detection or DetectionConfig())
        det = self.detector
        # the feeds write straight into the detector's books
        self.feeds.kalshi.books.update({p.kalshi_ticker: det.kalshi_book(p.kalshi_ticker)
                                        for p in pairs})
        self.feeds.books.books.update({t: det.token_book(t) for p in pairs
                                       for t in (p.polymarket_yes_token, p.polymarket_no_token)})
        self.clients = paper_clients(pairs, det.kalshi_book, det.token_book, latency=latency,
                                     cash_dollars=cash_dollars)
        self.journal = Journal(journal_path, synchronous="NORMAL")
        self.risk = RiskManager(RiskBook(limits or RiskLimits()), self.clients, self.pairs,
                                self.journal)
        self.executor = SagaExecutor(self.journal, self.clients, self.pairs, risk=self.risk,
                                     quotes=self._quotes)
        self.stats = PaperStats()
        self.store = store
        self.run_label = run_label
        #: the engine's own per-pair gate and its config's settings (ADR 0150)
        self.gate = PairGate(gate or load_config(config_path).gate)
        self._pair_of = {key: p.name for p in pairs for key in (
            p.kalshi_ticker, p.polymarket_yes_token, p.polymarket_no_token)}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def _changed(self, market: str) -> None:
        self._pending.append(market)
        self._wake.set()

    async def _quotes(self, venue: str, market: str, outcome: Outcome
                      ) -> tuple[int | None, int | None] | None:
        det = self.detector
        if venue == "kalshi" and det.tracks_kalshi(market):
            kb = det.kalshi_book(market)
            return kb.best_bid(outcome), kb.best_ask(outcome)
        if venue == "polymarket" and det.tracks_token(market):
            tb = det.token_book(market)
            return tb.best_bid, tb.best_ask
        return None

    def _detect(self) -> None:
        det, now = self.detector, time.time_ns()
        pending, self._pending = self._pending, []
        for market in dict.fromkeys(pending):
            if self.gate.closed(self._pair_of.get(market, ""), now):
                continue  # nothing there could be admitted: no detection
            found = det.on_kalshi(market, now) if det.tracks_kalshi(market) else (
                det.on_token(market, now))
            for opp in best_first(found):
                self.stats.opportunities += 1
                if not self.gate.admit(opp, now):
                    self.stats.skipped_busy += 1
                    continue
                task = asyncio.create_task(self._execute(opp))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _execute(self, opp: Opportunity) -> None:
        try:
            result = await self.executor.submit(opp)
            if result.saga is not None:
                self.stats.sagas.append(result.saga)
            for venue, client in self.clients.items():
                self.risk.book.set_balance(venue, int(client.cash))
        finally:
            self.gate.release(opp, time.time_ns())

    async def refresh_market_data(self) -> dict[str, str]:
        """Re-read every pair's Polymarket fee, minimum and tick from the venue (ADR 0037), as
        the live engine does at start; a pair whose data cannot be read stops being routed."""
        from arbiter.app.build import refresh_pair
        from arbiter.app.config import load_config

        config = load_config(self._config_path)
        poly = self.clients["polymarket"]
        for name, pair in list(self.pairs.items()):
            fresh, why = await refresh_pair(config, pair)
            if why is not None:
                self.market_refused[name] = why
            self.detector.replace_pair(fresh)
            for table in (self.pairs, self.executor.pairs, self.risk.pairs):
                table[name] = fresh
            for token in (fresh.polymarket_yes_token, fresh.polymarket_no_token):
                if fresh.polymarket_fee is None:
                    poly.taker_fees.pop(token, None)  # its orders are then refused
                else:
                    poly.taker_fees[token] = fresh.polymarket_fee
        return self.market_refused

    async def run(self, duration_s: float, stop_after_sagas: int | None = None) -> PaperStats:
        await self.refresh_market_data()
        await self.risk.refresh_balances()
        await self.feeds.start()
        deadline = time.monotonic() + duration_s
        try:
            while time.monotonic() < deadline:
                if stop_after_sagas is not None and len(self.stats.sagas) >= stop_after_sagas:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - time.monotonic()))
                self._detect()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            await self.feeds.stop()
            self.journal.close()
            if self.store is not None:
                self._store()
        return self.stats

    def _store(self) -> None:
        """Sagas and fills into the engine store, labelled, for the paper-vs-live report."""
        assert self.store is not None
        run = self.run_label
        self.store.insert("sagas", [{
            "ts_ns": s.plan.detected_ns, "run": run, "saga_id": s.saga_id, "pair": s.plan.pair,
            "direction": s.plan.direction,
            "ending": s.ending.value if s.ending is not None else "open",
            "pnl": int(s.finished.pnl if s.finished is not None else s.pnl()),
            "detail": s.describe()} for s in self.stats.sagas])
        self.store.insert("fills", [{
            "ts_ns": f.ts_ms * 1_000_000, "run": run, "venue": f.venue, "market": f.market,
            "outcome": f.outcome.value, "action": f.action.value, "price": int(f.price),
            "size": int(f.size), "fee": int(f.fee), "order_id": f.order_id,
            "client_order_id": f.client_order_id, "is_taker": int(f.is_taker)}
            for c in self.clients.values() for f in c.fill_log])
