"""The engine's Ray actors: thin shells that own one plain object each and forward to it.

* :class:`MarketMonitor` (one per venue, ``monitor_node``): its own WebSocket feed and books;
  serves the terminal view and the dashboard (top of book, feed health). It keeps ingesting
  whatever else restarts.
* :class:`Arbiter` (``arbiter_node``): the tick path (feeds → detector → risk → first order), plus
  every tenant's saga executor and journal, in one process (ADR 0060). On (re)start it recovers
  unfinished sagas from the journals *before* subscribing to the feeds.
* :class:`RiskManagerActor` (``risk_node``): the cross-tenant risk supervisor; pulls risk snapshots
  from the arbiter, enforces the global limits by tripping the kill switch, exports gauges.
* :class:`Executor` (one per tenant, ``executor_node``): the tenant's account supervisor; reads its
  journal (positions, PnL, orders) and cancels open orders at stop. Reconciliation (journal vs
  venue) runs in the arbiter, beside the journal writer and the gate it blocks (ADR 0140).

Every actor starts its work from ``__init__`` so that a restart by Ray (``max_restarts=-1``)
resumes on its own; nothing has to call ``start`` again. Scheduling (node class, restarts, names)
is declared by :mod:`arbiter.engine.placement` at creation, never here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import struct
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Container
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util import metrics

from arbiter.core import compiled
from arbiter.core.book import KalshiBook, Outcome
from arbiter.core.detection import Detector
from arbiter.core.units import MONEY_SCALE, money_str, price_str
from arbiter.engine.bootstrap import (
    EngineConfig,
    TenantRuntime,
    build_clients,
    build_detector,
    build_tenant,
    kalshi_config,
    kalshi_signer,
    refresh_market_data,
    refresh_pair,
    warm_up,
)
from arbiter.engine.executor import Begun
from arbiter.engine.journal import Journal
from arbiter.engine.lifecycle import LifecycleGuard
from arbiter.engine.placement import Layout, Role, actor_options
from arbiter.engine.reconcile import UNKNOWN as RECONCILE_UNKNOWN
from arbiter.engine.reconcile import ReconcileJob, ReconcileReport
from arbiter.engine.recovery import recover
from arbiter.engine.tickpath import BookQuotes, LatencyWindow, RiskGate, SagaReport, TickPath
from arbiter.engine.warm import PathWarmer, build_warmer
from arbiter.ops.logging import log_context
from arbiter.ops.metrics import Metrics, MetricsServer, serve_metrics
from arbiter.ops.tracing import SagaTracer, SagaTraces, provider_from_env
from arbiter.venues.base import DryRunClient, ExchangeClient, submit, unwrap
from arbiter.venues.kalshi.ws import KalshiFeed
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.market_info import market_changed
from arbiter.venues.polymarket.parsing import FeedStats, MarketBooks
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.schemas import LifecycleEvent, MarketResolvedEvent
from arbiter.venues.polymarket.ws import MarketFeed

__all__ = [
    "Arbiter",
    "EngineHandles",
    "Executor",
    "MarketMonitor",
    "RiskManagerActor",
    "actor_name",
    "spawn_engine",
]

log = logging.getLogger(__name__)

VENUES = ("kalshi", "polymarket")


def actor_name(role: Role, key: str | None = None) -> str:
    """Names as the dashboard shows them: ``monitor:kalshi``, ``arbiter``, ``executor:main``."""
    base = {Role.MONITOR: "monitor", Role.ARBITER: "arbiter", Role.RISK: "risk-manager",
            Role.EXECUTOR: "executor"}[role]
    return f"{base}:{key}" if key else base


def _dollars(amount: int) -> float:
    """Money → float for *export only* (Prometheus gauges are doubles); never computed with."""
    return amount / MONEY_SCALE


def _node_id() -> str:
    return str(ray.get_runtime_context().get_node_id())


def tune_for_latency(priority: int, realtime: bool = False, cpus: tuple[int, ...] = ()) -> None:
    """Keep the tick path's thread from pausing: no gen-2 sweeps over the long-lived heap
    (books, pairs, clients are frozen out of the collector), rarer young collections, and, when
    the config asks for it, a higher CPU priority: ``[engine] priority`` (nice, this thread) or
    ``realtime`` (SCHED_RR, every thread of the process).
    Both need the permission (root or CAP_SYS_NICE); without it the engine runs as is."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    # Ray's threads in this process share the GIL with the event loop; a frame that arrives
    # while one of them holds it waits for the switch interval (5 ms by default)
    sys.setswitchinterval(0.0002)
    if cpus:
        pin_threads(cpus)
    try:
        if realtime:
            set_realtime()
            hold_cpus_awake()
        elif priority:
            os.setpriority(os.PRIO_PROCESS, 0, -priority)
    except (OSError, AttributeError) as exc:
        log.warning("cannot raise the tick path's priority: %s", exc)


def set_realtime(level: int = 10) -> None:
    """SCHED_RR for every thread of this process. All of them, not just the event loop's: the
    threads share the GIL, and a normal-priority thread preempted while holding it would stall
    the real-time one behind it (priority inversion). The kernel's RT throttling (95 % of a
    period by default) keeps the machine responsive even if a thread spins."""
    param = os.sched_param(level)
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setscheduler(int(tid), os.SCHED_RR, param)


def pin_threads(cpus: tuple[int, ...] | set[int]) -> None:
    """Every thread of this process onto ``cpus`` (``[engine] tick_cpus``).

    A woken tick path can land on a CPU busy with another real-time task of equal priority
    and wait for it; pinned to CPUs kept for it (the others for everything else) it never
    does. All threads, for the GIL reason :func:`set_realtime` gives. A CPU this machine does
    not have is an error worth a warning, not a dead engine.
    """
    try:
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(tid), set(cpus))
    except OSError as exc:
        log.warning("cannot pin the tick path to CPUs %s: %s", sorted(cpus), exc)


#: the open PM QoS request (the kernel honours it while the descriptor stays open)
_CPU_QOS_FD: int | None = None


def hold_cpus_awake(path: str = "/dev/cpu_dma_latency") -> bool:
    """Ask the kernel for a 0 µs CPU wake-up latency for as long as this process lives.

    Between two frames (~20 ms at the benchmark's pace, seconds in quiet markets) an idle vCPU
    halts, and waking it adds tens of µs to milliseconds to the frame that ends the wait: the
    p99 of the tick path dropped from 7.7 ms to 4.7 ms with this alone (ADR 0066). It is the
    PM QoS request tuned's latency-performance profile makes: idle CPUs poll instead of
    halting, which costs power (or the host's CPU), not the guest's, since polling only runs
    when nothing else is runnable. Returns False where the device is missing or not writable.
    """
    global _CPU_QOS_FD
    if _CPU_QOS_FD is not None:
        return True
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        log.warning("cannot hold CPUs out of idle states (%s): %s", path, exc)
        return False
    os.write(fd, struct.pack("i", 0))
    _CPU_QOS_FD = fd
    return True


def _spawn(coro: Any) -> asyncio.Task[Any]:
    """Start background work from an actor ``__init__`` (runs on the actor's event loop)."""
    return asyncio.get_event_loop().create_task(coro)


# -- feeds --------------------------------------------------------------------------------------


@dataclass
class Feeds:
    """The two venue feeds of one process, started and stopped together."""

    kalshi: KalshiFeed
    polymarket: MarketFeed
    tasks: list[asyncio.Task[None]]

    async def stop(self) -> None:
        self.kalshi.stop()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.polymarket.stop()
        if self.polymarket.rest is not None:
            await self.polymarket.rest.close()


async def start_feeds(
    config: EngineConfig,
    kalshi_books: dict[str, KalshiBook] | None,
    poly_books: MarketBooks,
    on_kalshi: Callable[[KalshiBook], None] | None,
    venues: tuple[str, ...] = VENUES,
    lifecycle: LifecycleGuard | None = None,
) -> Feeds:
    """Subscribe to the pairs' markets; ``kalshi_books`` (if given) replaces the feed's own books
    so that frames are applied straight into the detector's cache (no copy, no hop)."""
    pairs = config.pairs
    tenant = config.tenants[0]
    kfeed = KalshiFeed(
        kalshi_config(config, tenant), kalshi_signer(tenant),
        [p.kalshi_ticker for p in pairs], grids={p.kalshi_ticker: p.kalshi_price_grid for p in pairs},
        fees={p.kalshi_ticker: p.kalshi_fees for p in pairs},
        on_book=on_kalshi,
        on_lifecycle=lifecycle.on_update if lifecycle is not None else None,
        on_lifecycle_error=lifecycle.on_error if lifecycle is not None else None,
    )
    if kalshi_books is not None:
        kfeed.books.update(kalshi_books)
    tokens = [t for p in pairs for t in (p.polymarket_yes_token, p.polymarket_no_token)]
    pfeed = MarketFeed(
        tokens, ws_url=config.endpoints.polymarket_ws,
        rest=PolymarketRest(config.endpoints.polymarket_rest), books=poly_books,
    )
    tasks: list[asyncio.Task[None]] = []
    if "kalshi" in venues:
        loop = asyncio.get_running_loop()
        tasks.append(loop.create_task(kfeed.run()))
        tasks.append(loop.create_task(confirm_sequenced(kfeed)))
    if "polymarket" in venues:
        await pfeed.start()
    return Feeds(kfeed, pfeed, tasks)


def detector_books(
    detector: Detector,
    on_token: Callable[[str], None],
    on_lifecycle: Callable[[LifecycleEvent], None] | None = None,
) -> MarketBooks:
    """The Polymarket feed's books *are* the detector's (no copy, no hop), and a token being
    resynced (``stale``) or of a resolved market (``halted``) is never traded (issue 18)."""
    pbooks = MarketBooks(on_change=on_token, on_lifecycle=on_lifecycle)
    for pair in detector.pairs:
        for token in (pair.polymarket_yes_token, pair.polymarket_no_token):
            pbooks.books[token] = detector.token_book(token)
    detector.block_when(pbooks.stale)
    detector.block_when(pbooks.halted)
    return pbooks


async def confirm_sequenced(feed: KalshiFeed, interval_s: float = 1.0) -> None:
    """Stamp Kalshi books that are known correct *now*: in ``feed.valid`` (snapshot plus
    gap-free sequence numbers) on a connected feed (which reconnects, and clears ``valid``, after
    ``idle_timeout_s`` without data). A book's ``ts_ns`` is what the detector's
    ``max_book_age_ns`` reads; without this a quiet but exact Kalshi book would age out, and a
    book of a dropped subscription stops being stamped and ages out within the budget."""
    idle_ns = int(2 * interval_s * 1e9)
    while True:
        await asyncio.sleep(interval_s)
        if not feed.connected.is_set():
            continue
        now = time.time_ns()
        for ticker in list(feed.valid):
            book = feed.books.get(ticker)
            if book is None or book.ts_ns >= now:
                continue
            was = book.ts_ns
            book.ts_ns = now
            if now - was > idle_ns and feed.on_book is not None:
                # it may have been refused as too old (a snapshot carries the market's last
                # update time): detection looks again now that it is known correct
                feed.on_book(book)


def _feed_summary(books: MarketBooks | None) -> dict[str, Any] | None:
    if books is None:
        return None
    st = books.stats
    return {"stale": len(books.stale), "halted": len(books.halted), "errors": dict(st.errors),
            "stalls": st.stalls, "quiet_checks": st.quiet_checks, "resyncs": st.resyncs,
            "reconnects": st.reconnects, "restarts": st.restarts, "mismatches": st.mismatches}


def _reconcile_summary(job: ReconcileJob) -> dict[str, Any]:
    last = job.last
    return {"blocking": job.blocking, "runs": job.runs, "inconclusive": job.inconclusive,
            "last_ms": job.last_ms,
            "differences": [d.describe() for d in last.differences] if last is not None else [],
            "errors": list(last.errors) if last is not None else []}


class _NotIn:
    """``key in _NotIn(members, among)``: ``key`` is one of ``among`` but not (yet) in
    ``members`` — a Kalshi ticker whose book is not sequence-valid. Keys outside ``among``
    (Polymarket tokens) are never blocked by it."""

    def __init__(self, members: Container[str], among: Container[str]) -> None:
        self.members = members
        self.among = among

    def __contains__(self, key: object) -> bool:
        return key in self.among and key not in self.members


# -- monitor ------------------------------------------------------------------------------------


class MarketMonitor:
    """One venue's feed and books, for everything that is *not* the tick path."""

    def __init__(self, venue: str, config: EngineConfig) -> None:
        self.venue = venue
        self.config = config
        self.events = 0
        self.started_ns = time.time_ns()
        self.poly_books = MarketBooks(on_change=self._count)
        self.feeds: Feeds | None = None
        self._events_metric = metrics.Counter(
            "arbiter_feed_events", "book events applied by a market monitor", tag_keys=("venue",)
        )
        self._events_metric.set_default_tags({"venue": venue})
        self._task = _spawn(self._run())

    def _count(self, _key: object) -> None:
        self.events += 1
        self._events_metric.inc()

    async def _run(self) -> None:
        self.feeds = await start_feeds(
            self.config, None, self.poly_books, self._count, venues=(self.venue,)
        )

    async def top(self) -> dict[str, Any]:
        """Best bid/ask per market as dollar strings (the terminal view's book panel)."""
        out: dict[str, Any] = {}
        if self.feeds is None:
            return out
        if self.venue == "kalshi":
            feed = self.feeds.kalshi
            for ticker, book in feed.books.items():
                quote: dict[str, str | None] = _quote(book.best_bid(Outcome.YES),
                                                      book.best_ask(Outcome.YES))
                trade = feed.trades.get(ticker)  # the public ``trade`` channel's last print
                quote["last"] = price_str(trade.yes_price) if trade is not None else None
                phase = feed.phases.get(ticker)
                quote["phase"] = phase.value if phase is not None else None
                out[ticker] = quote
        else:
            for token, tbook in self.poly_books.books.items():
                out[token] = _quote(tbook.best_bid, tbook.best_ask)
        return out

    async def health(self) -> dict[str, Any]:
        synced = False
        if self.feeds is not None:
            synced = (self.feeds.kalshi.synced if self.venue == "kalshi"
                      else not self.poly_books.stale and bool(self.poly_books.books))
        return {"venue": self.venue, "events": self.events, "synced": synced,
                "uptime_s": (time.time_ns() - self.started_ns) / 1e9, "pid": os.getpid()}

    def node_id(self) -> str:
        return _node_id()

    async def stop(self) -> None:
        if self.feeds is not None:
            await self.feeds.stop()


def _quote(bid: int | None, ask: int | None) -> dict[str, str | None]:
    return {"bid": price_str(bid) if bid is not None else None,
            "ask": price_str(ask) if ask is not None else None}


# -- arbiter ------------------------------------------------------------------------------------


class _Launcher:
    """Adapts a tenant's :class:`SagaExecutor` to the tick path's launcher protocol."""

    def __init__(self, runtime: TenantRuntime,
                 blocked: Callable[[str, str], str | None] | None = None,
                 on_launch: Callable[[str, Any], None] | None = None) -> None:
        self.runtime = runtime
        self.blocked = blocked
        self.on_launch = on_launch

    def start(self, opportunity: Any) -> Awaitable[SagaReport]:
        if self.blocked is not None:
            reason = self.blocked(self.runtime.name, opportunity.pair)
            if reason is not None:
                return _ready(SagaReport("-", opportunity.pair, opportunity.direction,
                                         f"rejected:{reason}", 0))
        if self.on_launch is not None:
            self.on_launch(self.runtime.name, opportunity)
        traces = self.runtime.traces
        traced = traces.opened(opportunity) if traces is not None else None
        token = _DETECTED_NS.set(opportunity.detected_ns)
        try:
            begun = self.runtime.executor.begin(opportunity)  # leg 1 is on the wire after this
        except BaseException:
            if traces is not None and traced is not None:
                traces.closed(traced, opportunity, None, False)
            raise
        finally:
            _DETECTED_NS.reset(token)
        if traces is not None and traced is not None:
            traces.closed(traced, opportunity, begun.risk, begun.saga is not None)
        return self._finish(opportunity, begun)

    async def _finish(self, opportunity: Any, begun: Begun) -> SagaReport:
        if begun.saga is None:
            risk = begun.risk
            reason = risk.reason.value if risk and risk.reason else "risk"
            return SagaReport("-", opportunity.pair, opportunity.direction, f"rejected:{reason}", 0)
        trace_id = None
        if self.runtime.traces is not None:  # leg 1 is out: now the context for a recovery
            trace_id = self.runtime.traces.save_context(begun.saga.saga_id)
        with log_context(trace_id=trace_id):  # the saga's log records name its trace
            saga = await self.runtime.executor.complete(begun)
        finished = saga.finished
        outcome = saga.ending.value if saga.ending is not None else "unfinished"
        pnl = finished.pnl if finished is not None else 0
        return SagaReport(saga.saga_id, opportunity.pair, opportunity.direction, outcome, pnl)


async def _ready(report: SagaReport) -> SagaReport:
    return report


class Arbiter:
    """Book cache + detection + the tenants' executors: the whole tick path, one process."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.started_ns = time.time_ns()
        self.ready_ns: int | None = None
        self.error: str | None = None
        # which build of the hot core (books, fees, sizing, detection) this tick path runs (ADR 0155)
        log.info("arbiter %s", compiled().describe())
        self.detector = build_detector(config)
        #: closed / paused / settled Kalshi markets: halt, cancel, settle (engine/lifecycle.py)
        self.lifecycle = LifecycleGuard(self.detector, lambda: self.tenants.values())
        self.gate = RiskGate(config.gate)
        self.tick = TickPath(self.detector, self.gate, None, on_report=self._on_report)
        self.tenants: dict[str, TenantRuntime] = {}
        self.recovered: dict[str, dict[str, Any]] = {}
        #: each tenant's reconciliation (journal vs venue), whose findings block its new sagas
        self.reconcilers: dict[str, ReconcileJob] = {}
        #: sagas begun per tenant: a reconciliation round spanning a change is inconclusive
        self._begun: dict[str, int] = {}
        self.recon_blocked: dict[str, str | None] = {}
        self.feeds: Feeds | None = None
        self.poly_books: MarketBooks | None = None
        #: called with every market lifecycle event (tick change: fee/tick refresh; resolution)
        self.lifecycle_hooks: list[Callable[[LifecycleEvent], None]] = []
        self._feed_seen: dict[str, int] = {}
        self.warmer: PathWarmer | None = None
        #: saga traces exported by OTLP as the OTEL_* variables say; off by default (ADR 0144)
        provider = provider_from_env("arbiter")
        self.tracer = SagaTracer(provider) if provider is not None else None
        self.stopped = False
        self._m_ticks = metrics.Gauge("arbiter_ticks_per_second", "book events through detection")
        self._m_opps = metrics.Counter("arbiter_opportunities", "opportunities detected")
        self._m_sagas = metrics.Counter("arbiter_sagas", "sagas by outcome", tag_keys=("outcome",))
        self._m_latency = metrics.Histogram(
            "arbiter_detect_to_order_ms", "detection to first-leg order sent (in process)",
            boundaries=[0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 50],
        )
        self._m_pnl = metrics.Gauge("arbiter_realised_pnl_dollars", "realised PnL of this run")
        # the Prometheus metrics of docs/observability.md, served by this process itself: the
        # tick path lives here, so the scrape needs no Ray hop and survives a dashboard outage
        self.metrics = Metrics()
        self.metrics.zero(VENUES, [t.name for t in config.tenants], [p.name for p in config.pairs])
        self.metrics_server: MetricsServer | None = None
        if config.metrics_port is not None:
            self.metrics_server = serve_metrics(self.metrics, config.metrics_host, config.metrics_port)
        self._pair_of = {key: p.name for p in config.pairs
                         for key in (p.kalshi_ticker, p.polymarket_yes_token, p.polymarket_no_token)}
        self._refused_seen: dict[str, int] = {}
        #: pairs kept out of trading because their Polymarket market data could not be read
        self.market_refused: dict[str, str] = {}
        self.market_refreshes = 0
        self._refreshing: set[str] = set()
        self._refresh_tasks: set[asyncio.Task[Any]] = set()
        # operator state (control plane): journaled on every change and read back at boot, so
        # a restarted arbiter is as paused or stopped as it was (ADR 0142); the kill switch is
        # in the journal already (RiskManager.kill) and read back the same way
        self._ops = {t.name: _OperatorState() for t in config.tenants}
        #: tenants switched before their journal was open: written once it is
        self._ops_unsaved: set[str] = set()
        self._alerts: deque[dict[str, Any]] = deque(maxlen=500)
        self._seq = 0
        self._launches: deque[tuple[int, str, Any]] = deque(maxlen=1000)
        self._saga_log: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=1000)
        self._task = _spawn(self._boot())
        self._metrics_task = _spawn(self._export())

    async def _boot(self) -> None:
        try:
            # the venue's fee, minimum size and tick, not the pairs file's: a pair whose market
            # data cannot be read is kept out of detection (ADR 0036)
            self.config, self.market_refused = await refresh_market_data(self.config)
            for name, why in self.market_refused.items():
                log.error("pair %s will not trade: Polymarket market data unreadable: %s",
                          name, why)
            for pair in self.config.pairs:  # same detector and books: only the market data
                self.detector.replace_pair(pair)
            limiter = self.config.rate_limiter()  # one per deployment: tenants share the IP
            for tenant in self.config.tenants:
                runtime = await build_tenant(self.config, tenant, limiter,
                                             self.metrics.rate_limit_rejected)
                self._restore_operator(runtime)
                if not self.config.dry_run:
                    await open_order_lanes(runtime)
                _time_first_leg(runtime, self.tick, self._m_latency, self.metrics)
                self._trace(runtime)  # before the recovery: its sagas continue their traces
                report = await recover(runtime.executor, runtime.risk.book)
                self.recovered[tenant.name] = {"sagas": report.sagas, "endings": report.endings,
                                               "ms": report.elapsed_ms, "errors": report.errors}
                await warm_up(runtime, self.config)
                runtime.executor.quotes = BookQuotes(self.detector)  # hedges see the live books
                runtime.executor.on_rejected = self._on_rejected
                self.tenants[tenant.name] = runtime
                # after the recovery, before the first saga: journal vs venue (ADR 0140)
                job = self._reconciler(runtime)
                self.reconcilers[tenant.name] = job
                try:
                    await job.run_once()
                except Exception:  # unknown is never zero: no saga until a round is clean
                    log.exception("reconciliation of %s after recovery failed", tenant.name)
                    job.blocking = RECONCILE_UNKNOWN
                job.start()
            # one tenant trades per opportunity: the first; the others are hot standbys for
            # now (fan-out across tenants needs a liquidity split, not in this version)
            first = next(iter(self.tenants.values()))
            self.tick.launcher = _Launcher(first, self._blocked, self._launched)
            kbooks = {p.kalshi_ticker: self.detector.kalshi_book(p.kalshi_ticker)
                      for p in self.config.pairs}
            pbooks = detector_books(self.detector, self._on_token, self._on_lifecycle)
            pbooks.on_tick_change = lambda token, _tick: self._refresh_market(token)
            self.poly_books = pbooks
            self.feeds = await start_feeds(
                self.config, kbooks, pbooks, lambda book: self._on_kalshi(book.ticker),
                lifecycle=self.lifecycle,
            )
            self.detector.block_when(_NotIn(self.feeds.kalshi.valid, frozenset(kbooks)))
            if self.config.warm_us:
                self.warmer = build_warmer(self.config.pairs, self.config.detection,
                                           self.config.warm_us / 1e6)
                if self.warmer is not None:
                    self.warmer.add_executor(first.executor, first.risk.book.limits)
                    self.warmer.start()
            tune_for_latency(self.config.priority, self.config.realtime, self.config.tick_cpus)
            self.ready_ns = time.time_ns()
        except Exception as exc:  # surfaced through status(); the supervisor decides
            log.exception("arbiter failed to start")
            self.error = f"{type(exc).__name__}: {exc}"

    # -- durable operator state (ADR 0142) ---------------------------------------------------------
    def _save_operator(self, name: str) -> None:
        rt = self.tenants.get(name)
        if rt is None:
            self._ops_unsaved.add(name)
            return
        rt.journal.log(OPERATOR_STATE, self._ops[name].to_json(), time.time_ns())

    def _restore_operator(self, runtime: TenantRuntime) -> None:
        """The tenant's pause/stop switches and kill switch as they were last journaled."""
        name, journal = runtime.name, runtime.journal
        if name in self._ops_unsaved:  # switched during this boot: the newest word wins
            self._ops_unsaved.discard(name)
            journal.log(OPERATOR_STATE, self._ops[name].to_json(), time.time_ns())
        else:
            last = None
            for _, _, body in journal.logs(OPERATOR_STATE):
                last = body
            if last is not None:
                self._ops[name] = _OperatorState.from_json(last)
                if self._ops[name] != _OperatorState():
                    self._alert(name, "operator", f"restored from the journal: {last}")
        kill = None
        for _, _, body in journal.logs("kill_switch"):
            kill = body
        reason = kill.get("reason") if kill is not None else None
        if isinstance(reason, str) and reason != "reset" and runtime.risk.book.killed is None:
            runtime.risk.book.trip(reason, time.time_ns())
            self._alert(name, "kill_switch", f"restored from the journal: {reason}")

    # -- reconciliation (ADR 0140) -------------------------------------------------------------------
    def _reconciler(self, runtime: TenantRuntime) -> ReconcileJob:
        """The tenant's round: positions, resting orders and fills of the pairs' markets."""
        name = runtime.name
        markets = [m for p in self.config.pairs for m in (
            ("kalshi", p.kalshi_ticker), ("polymarket", p.polymarket_yes_token),
            ("polymarket", p.polymarket_no_token))]
        return ReconcileJob(
            runtime.journal, runtime.clients, self.config.reconcile_s,
            alert=lambda report: self._reconcile_alert(name, report),
            markets=markets, orders=True,
            fills_since_ms=self.started_ns // 1_000_000 - 3_600_000,  # the last hour at start
            quiet=lambda: self._quiet(name),
            on_report=lambda report: self._reconciled(name, report),
        )

    def _quiet(self, tenant: str) -> int | None:
        """A token while ``tenant`` has no saga in flight (see :class:`ReconcileJob`)."""
        rt = self.tenants.get(tenant)
        if rt is None or rt.risk.book.reservations:
            return None
        return self._begun.get(tenant, 0)

    def _reconcile_alert(self, tenant: str, report: ReconcileReport) -> None:
        findings = [d.describe() for d in report.differences] + report.errors
        self._alert(tenant, "reconciliation", "new sagas refused: " + "; ".join(findings))

    def _reconciled(self, tenant: str, report: ReconcileReport) -> None:
        rt = self.tenants.get(tenant)
        venues = rt.clients if rt is not None else ()
        self.metrics.record_reconciliation(tenant, report, venues)
        was = self.recon_blocked.get(tenant)
        if report.clean and was is not None:
            self._alert(tenant, "reconciliation", f"clean again (was: {was}); sagas resume")
        job = self.reconcilers.get(tenant)
        self.recon_blocked[tenant] = job.blocking if job is not None else None

    async def reconcile(self, tenant: str) -> dict[str, Any]:
        """Run a round for ``tenant`` now (operators, tests); its summary as :meth:`status` has."""
        (name,) = self._scope(tenant)
        job = self.reconcilers.get(name)
        if job is None:
            raise KeyError(f"{name} is not running yet")
        report = await job.run_once()
        # ``conclusive``: whether *this* round counted (a saga overlapping it makes it not)
        return {**_reconcile_summary(job), "conclusive": report is not None}

    # -- market data refreshes (ADR 0036) ----------------------------------------------------------
    def _on_rejected(self, venue: str, market: str, exc: BaseException) -> None:
        if venue == "polymarket" and market_changed(exc):
            self._refresh_market(market)

    def _refresh_market(self, token: str) -> None:
        """Re-read the market of ``token`` (the venue said its tick, fee or minimum changed)."""
        name = self._pair_of.get(token)
        if name is None or name in self._refreshing:
            return
        self._refreshing.add(name)
        task = _spawn(self._refresh(name))
        self._refresh_tasks.add(task)
        task.add_done_callback(self._refresh_tasks.discard)

    async def _refresh(self, name: str) -> None:
        try:
            pair = next(p for p in self.detector.pairs if p.name == name)
            fresh, why = await refresh_pair(self.config, pair)
            if why is not None:
                log.error("pair %s stops trading: Polymarket market data unreadable: %s",
                          name, why)
                self.market_refused[name] = why
            else:
                self.market_refused.pop(name, None)
            self.detector.replace_pair(fresh)
            for runtime in self.tenants.values():
                runtime.executor.pairs[name] = fresh
                runtime.risk.pairs[name] = fresh
                client = runtime.clients.get("polymarket")
                inner = unwrap(client) if client is not None else None
                if isinstance(inner, PolymarketClient) and fresh.polymarket_condition_id:
                    # the client prices orders and fills with the same, re-read curve
                    with contextlib.suppress(Exception):
                        await inner.clob_market(fresh.polymarket_condition_id, refresh=True)
            self.market_refreshes += 1
        finally:
            self._refreshing.discard(name)

    # -- feed callbacks: the tick path, then the Prometheus counts -------------------------------
    def _on_kalshi(self, ticker: str) -> None:
        self._counted("kalshi", ticker, self.tick.on_kalshi)

    def _on_token(self, token: str) -> None:
        self._counted("polymarket", token, self.tick.on_token)

    def _counted(self, venue: str, key: str, on_tick: Callable[[str], None]) -> None:
        stats = self.tick.stats
        before = stats.opportunities
        on_tick(key)  # detection and launch first: the Prometheus bookkeeping must not delay them
        m = self.metrics
        pair = self._pair_of.get(key, "")
        m.tick(venue)
        m.book_update(venue, pair)
        for _ in range(stats.opportunities - before):
            m.opportunity(self._trading_tenant(), pair)

    def _on_lifecycle(self, event: LifecycleEvent) -> None:
        """A market's rules changed: a resolution stops trading it (``MarketBooks.halted``,
        blocked in detection), a tick change already moved the book's grid; both are counted,
        alerted and handed to :attr:`lifecycle_hooks` (fee and tick refresh)."""
        kind = event.__struct_config__.tag
        self.metrics.lifecycle("polymarket", str(kind))
        if isinstance(event, MarketResolvedEvent):
            log.warning("polymarket market %s resolved (winner %s): its tokens stop trading",
                        event.market, event.winner or "?")
            for name in self._ops:
                self._alert(name, "market_resolved", f"{event.market} winner {event.winner}")
            self.lifecycle.on_polymarket_resolved(event.market, event.assets_ids)
        for hook in self.lifecycle_hooks:
            try:
                hook(event)
            except Exception:  # a hook must not take the feed down
                log.exception("lifecycle hook failed for %s", kind)

    def _export_feed_health(self) -> None:
        """Feed and detection health counters into Prometheus (diffed, like the refusals)."""
        m = self.metrics
        if self.poly_books is not None:
            stats: FeedStats = self.poly_books.stats
            for kind, n in list(stats.errors.items()):
                if d := self._delta("err:" + kind, n):
                    m.feed_error("polymarket", kind, d)
            for reason, n in (("stall", stats.stalls), ("mismatch", stats.mismatches),
                              ("rejected", stats.rejected)):
                if d := self._delta("stale:" + reason, n):
                    m.feed_stale_found("polymarket", reason, d)
            if d := self._delta("restarts", stats.restarts):
                m.feed_restarted("polymarket", d)
            for _ in range(self._delta("reconnects", stats.reconnects)):
                m.ws_reconnected("polymarket")
        if self.feeds is not None:
            kstats = self.feeds.kalshi.stats
            if d := self._delta("kalshi:gaps", kstats.gaps):
                m.sequence_gap("kalshi", d)  # each one dropped the books of a subscription
            for _ in range(self._delta("kalshi:reconnects", kstats.reconnects)):
                m.ws_reconnected("kalshi")
        for reason, n in list(self.detector.skipped.items()):
            why, _, venue = reason.partition(":")
            if d := self._delta("skip:" + reason, n):
                m.stale_book_skipped(venue, why, d)

    def _delta(self, key: str, total: int) -> int:
        delta = total - self._feed_seen.get(key, 0)
        self._feed_seen[key] = total
        return max(delta, 0)

    def _trading_tenant(self) -> str:
        """The tenant opportunities are launched for (the first; see ``_boot``)."""
        return next(iter(self.tenants), "-")

    def _on_report(self, _opp: Any, report: SagaReport) -> None:
        self._seq += 1
        self._saga_log.append((self._seq, self._trading_tenant(),
                               {"saga": report.saga_id, "pair": report.pair, "outcome": report.outcome,
                                "pnl": report.pnl, "ts_ns": time.time_ns()}))
        if not report.outcome.startswith("rejected:"):
            self._m_sagas.inc(tags={"outcome": report.outcome})
            self.metrics.saga_finished(self._trading_tenant(), report.pair, report.outcome)
        self._m_pnl.set(_dollars(self.tick.stats.pnl))

    def _export_state(self) -> None:
        """Refresh the state gauges and the refusal counters from the tenants' risk books."""
        m = self.metrics
        tenant = self._trading_tenant()
        for reason, n in self.tick.stats.refused.items():
            for _ in range(n - self._refused_seen.get(reason, 0)):
                m.risk_rejected(tenant, reason)
            self._refused_seen[reason] = n
        for name, rt in self.tenants.items():
            book = rt.risk.book
            m.set_kill_switch(name, book.killed is not None)
            m.set_daily(name, book.daily_pnl, book.limits.max_daily_loss)
            m.open_sagas.labels(m.tenant(name)).set(len(book.reservations))
            for venue, held in book.held_venue.items():
                m.set_exposure(name, venue, held)
        if tenant in self.tenants:
            # fees are inside each saga's settlement-valued PnL; marks are not tracked here
            m.set_pnl(tenant, self.tick.stats.pnl, 0, 0)
        self._export_feed_health()

    async def _export(self) -> None:
        last_ticks, last_opps = 0, 0
        while True:
            await asyncio.sleep(1.0)
            stats = self.tick.stats
            self._m_ticks.set(stats.ticks - last_ticks)
            if stats.opportunities > last_opps:
                self._m_opps.inc(stats.opportunities - last_opps)
            last_ticks, last_opps = stats.ticks, stats.opportunities
            try:
                self._export_state()
            except Exception:  # metrics must never take the actor down
                log.exception("metrics export failed")

    async def status(self) -> dict[str, Any]:
        s = self.tick.stats
        lat = s.decide_ns
        risk = {name: {"killed": rt.risk.book.killed, "open": len(rt.risk.book.reservations),
                       "daily_pnl": money_str(rt.risk.book.daily_pnl)}
                for name, rt in self.tenants.items()}
        return {
            "ready": self.ready_ns is not None, "error": self.error, "pid": os.getpid(),
            "core": compiled().as_dict(),
            "started_ns": self.started_ns, "ready_ns": self.ready_ns,
            "ticks": s.ticks, "opportunities": s.opportunities, "admitted": s.admitted,
            "sagas": dict(s.sagas), "refused": dict(s.refused), "pnl": s.pnl,
            "market_refused": dict(self.market_refused),
            "market_refreshes": self.market_refreshes,
            "recent": list(s.recent),
            "rejections": dict(self.gate.rejections), "risk": risk, "recovered": self.recovered,
            "detect_to_launch_us": {
                "p50": (lat.percentile(0.5) or 0) / 1000, "p99": (lat.percentile(0.99) or 0) / 1000,
            },
            "launch_us": {"p50": (s.start_ns.percentile(0.5) or 0) / 1000,
                          "p99": (s.start_ns.percentile(0.99) or 0) / 1000},
            "first_leg_ms": _first_leg_summary(self.tick),
            "order_lanes": {name: _lane_stats(rt) for name, rt in self.tenants.items()},
            "metrics_port": self.metrics_server.port if self.metrics_server is not None else None,
            "warm": self.warmer.stats() if self.warmer is not None else None,
            # why opportunities were not sized (book too old, resyncing, resolved, unsequenced)
            "skipped": dict(self.detector.skipped),
            "polymarket_feed": _feed_summary(self.poly_books),
            "reconciliation": {name: _reconcile_summary(job)
                               for name, job in self.reconcilers.items()},
        }

    def _trace(self, runtime: TenantRuntime) -> None:
        """The tenant's saga traces (ADR 0144), resumed for the sagas a recovery will finish."""
        if self.tracer is None:
            return
        traces = SagaTraces(self.tracer, runtime.name, runtime.journal)
        runtime.executor.observers.append(traces.observe)
        runtime.traces = traces
        traces.resume_unfinished()

    async def first_leg_log(self) -> list[tuple[int, int, int]]:
        """(detected, handed to the client, written) wall-clock ns of recent first legs, for the
        latency benchmark."""
        return list(self.tick.stats.first_leg_log)

    async def risk_snapshot(self) -> dict[str, dict[str, int | str | None]]:
        return {name: {"killed": rt.risk.book.killed, "daily_pnl": rt.risk.book.daily_pnl,
                       "reserved": sum(r.exposure for r in rt.risk.book.reservations.values()),
                       "held": sum(rt.risk.book.held_venue.values())}
                for name, rt in self.tenants.items()}

    async def kill(self, reason: str) -> int:
        canceled = 0
        for rt in self.tenants.values():
            canceled += await rt.risk.kill(reason)
        return canceled

    async def stop(self) -> dict[str, Any]:
        """Graceful stop: no new sagas, finish those in flight, cancel open orders, close."""
        if self.stopped:
            return {"stopped": True}
        self.stopped = True
        if self.warmer is not None:
            self.warmer.stop()
        for job in self.reconcilers.values():
            await job.stop()
        await self.tick.drain()
        if self.feeds is not None:
            await self.feeds.stop()
        canceled = 0
        for rt in self.tenants.values():
            canceled += await _cancel_open(rt.clients)
            await rt.close()
        if self.tracer is not None:  # the batch's last spans leave before the actor is killed
            self.tracer.flush(5_000)
        # the metrics endpoint stays up: the final counters and the kill switch stay scrapeable
        return {"stopped": True, "canceled": canceled}

    # -- control plane (arbiter.ops.control.ray_engine.RayEngineControl) -------------------------
    def _blocked(self, tenant: str, pair: str) -> str | None:
        ops = self._ops.get(tenant)
        if ops is None:
            return None
        if not ops.running or pair in ops.stopped_pairs:
            return "stopped"
        if ops.paused_all or pair in ops.paused_pairs:
            return "paused"
        job = self.reconcilers.get(tenant)
        if job is not None and job.blocking is not None:
            return job.blocking  # reconcile_mismatch / reconcile_unknown, until a clean round
        return None

    def _launched(self, tenant: str, opportunity: Any) -> None:
        self._begun[tenant] = self._begun.get(tenant, 0) + 1
        self._seq += 1
        self._launches.append((self._seq, tenant, opportunity))

    def _alert(self, tenant: str, kind: str, detail: str) -> None:
        self._alerts.append({"tenant": tenant, "kind": kind, "detail": detail, "ts_ns": time.time_ns()})

    def _scope(self, tenant: str | None) -> list[str]:
        if tenant is None:
            return list(self._ops)
        if tenant not in self._ops:
            raise KeyError(tenant)
        return [tenant]

    async def control_status(self, tenant: str | None) -> list[dict[str, Any]]:
        rows = []
        for name in self._scope(tenant):
            ops, rt = self._ops[name], self.tenants.get(name)
            book = rt.risk.book if rt is not None else None
            rows.append({
                "tenant": name, "running": ops.running and not self.stopped, "paused_all": ops.paused_all,
                "paused_pairs": sorted(ops.paused_pairs | ops.stopped_pairs),
                "killed": book.killed if book is not None else None,
                "open_sagas": len(book.reservations) if book is not None else 0,
                "open_orders": len(await self._open_orders(rt)) if rt is not None else 0,
                "daily_pnl": book.daily_pnl if book is not None else 0,
            })
        return rows

    async def control(self, action: str, tenant: str | None, pair: str | None) -> tuple[bool, str]:
        """start / stop / pause / resume for one tenant (or all), one pair (or all)."""
        if pair is not None and pair not in self._ops_pairs():
            raise KeyError(f"pair {pair}")
        changed = False
        for name in self._scope(tenant):
            if self._ops[name].apply(action, pair):
                changed = True
                self._save_operator(name)
        detail = {"start": "started {}", "stop": "stopped {}; open sagas finish", "pause": "paused {}",
                  "resume": "resumed {}"}[action]
        return changed, detail.format(pair or "all pairs")

    async def describe(self) -> dict[str, list[str]]:
        return {"tenants": list(self._ops), "pairs": [p.name for p in self.config.pairs]}

    def _ops_pairs(self) -> set[str]:
        return {p.name for p in self.config.pairs}

    async def trip(self, tenant: str | None, reason: str) -> bool:
        changed = False
        for name in self._scope(tenant):
            rt = self.tenants.get(name)
            if rt is not None and rt.risk.book.killed is None:
                await rt.risk.kill(reason)
                self._alert(name, "kill_switch", f"tripped: {reason}")
                changed = True
        return changed

    async def reset(self, tenant: str) -> bool:
        (name,) = self._scope(tenant)
        rt = self.tenants.get(name)
        was = rt.risk.book.killed if rt is not None else None
        if rt is not None:
            rt.risk.reset()
        if was is not None:
            self._alert(name, "kill_switch", f"reset (was: {was})")
        return was is not None

    async def _open_orders(self, rt: TenantRuntime) -> list[Any]:
        found: list[Any] = []
        for client in rt.clients.values():
            with contextlib.suppress(Exception):
                found += [o for o in await client.open_orders() if not o.status.is_final]
        return found

    async def open_orders(self, tenant: str | None) -> list[tuple[str, Any]]:
        """(tenant, OrderAck) of every order resting at the venues."""
        out: list[tuple[str, Any]] = []
        for name in self._scope(tenant):
            rt = self.tenants.get(name)
            if rt is not None:
                out += [(name, o) for o in await self._open_orders(rt)]
        return out

    async def cancel_order(self, tenant: str, venue: str, order_id: str) -> bool:
        (name,) = self._scope(tenant)
        rt = self.tenants.get(name)
        if rt is None or venue not in rt.clients:
            return False
        try:
            await rt.clients[venue].cancel_order(order_id)
        except Exception:
            return False
        return True

    async def positions(self, tenant: str | None) -> list[tuple[str, Any]]:
        return [(name, p) for name in self._scope(tenant) if (rt := self.tenants.get(name)) is not None
                for p in rt.executor.positions.open_positions()]

    async def pnl(self, tenant: str | None) -> list[tuple[str, Any, int]]:
        return [(name, rt.executor.positions.pnl(), rt.risk.book.daily_pnl)
                for name in self._scope(tenant) if (rt := self.tenants.get(name)) is not None]

    async def limits(self, tenant: str) -> Any:
        (name,) = self._scope(tenant)
        rt = self.tenants.get(name)
        return rt.risk.book.limits if rt is not None else self.config.limits

    async def set_limits(self, tenant: str, limits: Any) -> Any:
        (name,) = self._scope(tenant)
        rt = self.tenants.get(name)
        if rt is None:
            raise KeyError(f"{name} is not running yet")
        rt.risk.book.limits = limits
        self._alert(name, "limits", "risk limits changed")
        return limits

    async def alerts(self, tenant: str | None) -> list[dict[str, Any]]:
        names = set(self._scope(tenant))
        return [a for a in self._alerts if a["tenant"] in names]

    async def events_since(self, seq: int) -> dict[str, Any]:
        """Launches and saga endings after ``seq``, for the control plane's polled streams."""
        return {"seq": self._seq,
                "launches": [x for x in self._launches if x[0] > seq],
                "sagas": [x for x in self._saga_log if x[0] > seq]}

    def node_id(self) -> str:
        return _node_id()


@dataclass(slots=True)
class _OperatorState:
    """What an operator switched for one tenant; consulted before each saga launch."""

    running: bool = True
    paused_all: bool = False
    paused_pairs: set[str] = field(default_factory=set)
    stopped_pairs: set[str] = field(default_factory=set)

    def apply(self, action: str, pair: str | None) -> bool:
        before = (self.running, self.paused_all, set(self.paused_pairs), set(self.stopped_pairs))
        if action == "start":
            if pair is None:
                self.running = True
                self.stopped_pairs.clear()
            else:
                self.stopped_pairs.discard(pair)
        elif action == "stop":
            if pair is None:
                self.running = False
            else:
                self.stopped_pairs.add(pair)
        elif action == "pause":
            if pair is None:
                self.paused_all = True
            else:
                self.paused_pairs.add(pair)
        elif action == "resume":
            if pair is None:
                self.paused_all = False
                self.paused_pairs.clear()
            else:
                self.paused_pairs.discard(pair)
        else:
            raise ValueError(action)
        return before != (self.running, self.paused_all, self.paused_pairs, self.stopped_pairs)

    def to_json(self) -> dict[str, Any]:
        return {"running": self.running, "paused_all": self.paused_all,
                "paused_pairs": sorted(self.paused_pairs), "stopped_pairs": sorted(self.stopped_pairs)}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> _OperatorState:
        return cls(bool(body.get("running", True)), bool(body.get("paused_all", False)),
                   {str(p) for p in body.get("paused_pairs", [])},
                   {str(p) for p in body.get("stopped_pairs", [])})


#: the journal log kind of the operator's switches (one row per change, the last one counts)
OPERATOR_STATE = "operator_state"


#: detection time of the opportunity whose saga runs in the current asyncio task
_DETECTED_NS: ContextVar[int] = ContextVar("detected_ns", default=0)


async def open_order_lanes(runtime: TenantRuntime) -> None:
    """Give each venue client that has an order lane its kept-alive connections (ADR 0064)."""
    for client in runtime.clients.values():
        opener = getattr(unwrap(client), "open_order_lane", None)
        if opener is not None:
            await opener()


def _lane_stats(runtime: TenantRuntime) -> dict[str, dict[str, int]]:
    """Per venue: creates written inline by the order lane, and those that found it busy."""
    out = {}
    for venue, client in runtime.clients.items():
        lane = getattr(unwrap(client), "order_lane", None)
        if lane is not None:
            out[venue] = {"sent": lane.sent, "misses": lane.misses, "idle": lane.idle}
    return out


def _time_first_leg(runtime: TenantRuntime, tick: TickPath, hist: metrics.Histogram,
                    prom: Metrics | None = None) -> None:
    """Wrap each client's ``place_order`` to time detection → first-leg send (``-L1`` ids)."""
    for venue, client in list(runtime.clients.items()):
        runtime.clients[venue] = _TimedClient(client, tick.stats.first_leg, hist,
                                              tick.stats.first_leg_log, prom)
    runtime.executor.clients = runtime.clients
    runtime.risk.clients = runtime.clients


class _TimedClient:
    """Pass-through :class:`ExchangeClient` that records when each first leg leaves."""

    def __init__(self, inner: ExchangeClient, window: LatencyWindow, hist: metrics.Histogram,
                 log: deque[tuple[int, int, int]], prom: Metrics | None = None) -> None:
        self._log = log
        self._prom = prom
        self.inner = inner
        self.venue = inner.venue
        self._window = window
        self._hist = hist

    def submit_order(self, request: Any) -> Awaitable[Any]:
        detected = _DETECTED_NS.get()
        sent = time.time_ns()
        pending = submit(self.inner, request)  # on the wire (order lane) before the bookkeeping
        if detected and request.client_order_id.endswith("-L1"):
            written = time.time_ns()
            self._window.add(sent - detected)
            self._log.append((detected, sent, written))
            self._hist.observe((sent - detected) / 1e6)
            if self._prom is not None:
                self._prom.tick_to_order_ns(self.venue, sent - detected)
        if self._prom is None:
            return pending
        return self._round_trip("place", sent, pending)

    async def _round_trip(self, op: str, sent: int, pending: Awaitable[Any]) -> Any:
        """Send → the venue's answer (``arbiter_order_latency_seconds``); refusals not timed."""
        ack = await pending
        if self._prom is not None:
            self._prom.order_round_trip(self.venue, op, time.time_ns() - sent)
        return ack

    async def place_order(self, request: Any) -> Any:
        return await self.submit_order(request)

    async def cancel_order(self, order_id: str) -> Any:
        return await self._round_trip("cancel", time.time_ns(), self.inner.cancel_order(order_id))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _first_leg_summary(tick: TickPath) -> dict[str, float]:
    window = tick.stats.first_leg
    return {"p50": (window.percentile(0.5) or 0) / 1e6, "p99": (window.percentile(0.99) or 0) / 1e6,
            "n": window.count}


async def _cancel_open(clients: dict[str, ExchangeClient]) -> int:
    canceled = 0
    for venue, client in clients.items():
        try:
            for order in await client.open_orders():
                if not order.status.is_final:  # resting or held (pending) at the venue
                    with contextlib.suppress(Exception):
                        await client.cancel_order(order.order_id)
                        canceled += 1
        except Exception as exc:  # stopping must go on; the next start reconciles
            log.warning("cancel open orders on %s failed: %s", venue, exc)
    return canceled


# -- risk manager -------------------------------------------------------------------------------


class RiskManagerActor:
    """Cross-tenant limits over the arbiter's per-tenant risk books, off the tick path.

    It holds no state that cannot be re-read: after a restart the next pull rebuilds it, and
    the per-tenant books in the arbiter keep enforcing their own limits meanwhile.
    """

    def __init__(self, config: EngineConfig, poll_s: float = 0.5) -> None:
        self.config = config
        self.poll_s = poll_s
        self.snapshot_: dict[str, Any] = {}
        self.pulls = 0
        self.tripped: str | None = None
        self._m_exposure = metrics.Gauge("arbiter_open_exposure_dollars",
                                         "reserved + held money across tenants")
        self._m_day = metrics.Gauge("arbiter_daily_pnl_dollars", "day PnL across tenants")
        self._task = _spawn(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                arbiter = ray.get_actor(actor_name(Role.ARBITER), namespace=self.config.namespace)
                snap = await arbiter.risk_snapshot.remote()
            except Exception:  # arbiter restarting: keep the last view, try again
                continue
            self.snapshot_ = snap
            self.pulls += 1
            exposure = sum(int(t["reserved"]) + int(t["held"]) for t in snap.values())
            day = sum(int(t["daily_pnl"]) for t in snap.values())
            self._m_exposure.set(_dollars(exposure))
            self._m_day.set(_dollars(day))
            gross = self.config.limits.max_gross_exposure
            loss = self.config.limits.max_daily_loss
            reason = None
            if gross is not None and exposure > gross * max(1, len(snap)):
                reason = "global gross exposure"
            elif loss is not None and day < -loss * max(1, len(snap)):
                reason = "global daily loss"
            if reason and self.tripped is None:
                self.tripped = reason
                with contextlib.suppress(Exception):
                    await arbiter.kill.remote(reason)

    async def snapshot(self) -> dict[str, Any]:
        return {"tenants": self.snapshot_, "pulls": self.pulls, "tripped": self.tripped,
                "pid": os.getpid()}

    def node_id(self) -> str:
        return _node_id()


# -- executor (tenant supervisor) ---------------------------------------------------------------


class Executor:
    """One tenant's account view: journal-derived positions/PnL, open orders, stop."""

    def __init__(self, config: EngineConfig, tenant: str) -> None:
        self.config = config
        self.tenant = next(t for t in config.tenants if t.name == tenant)
        self.clients: dict[str, ExchangeClient] = {}
        self.started_ns = time.time_ns()
        self._task = _spawn(self._boot())

    async def _boot(self) -> None:
        self.clients = await build_clients(self.config, self.tenant)

    def _journal(self) -> Journal | None:
        path = self.config.journal_path(self.tenant.name)
        return Journal(path, synchronous="NORMAL") if path.exists() else None

    async def summary(self) -> dict[str, Any]:
        """Sagas by ending, orders, positions and PnL, rebuilt from the journal every time."""
        journal = self._journal()
        if journal is None:
            return {"tenant": self.tenant.name, "sagas": {}, "orders": 0, "pnl": 0, "pid": os.getpid()}
        try:
            endings = journal.endings()
            orders = journal.orders()
            pnl = sum(int(r[0] or 0) for r in journal._db.execute(
                "SELECT pnl FROM sagas WHERE ending IS NOT NULL").fetchall())
            cids = [o.cid for o in orders]
            return {"tenant": self.tenant.name, "sagas": endings, "orders": len(orders),
                    "unique_cids": len(set(cids)), "unfinished": len(journal.unfinished()),
                    "pnl": pnl, "pid": os.getpid()}
        finally:
            journal.close()

    async def open_orders(self) -> int:
        total = 0
        for client in self.clients.values():
            inner = client.inner if isinstance(client, DryRunClient) else client
            with contextlib.suppress(Exception):
                total += len(await inner.open_orders())
        return total

    async def cancel_open_orders(self) -> int:
        return await _cancel_open(self.clients)

    def node_id(self) -> str:
        return _node_id()

    async def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.close()


# -- spawning -----------------------------------------------------------------------------------


@dataclass
class EngineHandles:
    layout: Layout
    monitors: dict[str, Any]
    arbiter: Any
    risk: Any
    executors: dict[str, Any]

    def all(self) -> list[Any]:
        return [*self.monitors.values(), self.arbiter, self.risk, *self.executors.values()]


def spawn_engine(config: EngineConfig, layout: Layout) -> EngineHandles:
    """Create every actor with its placement; Ray restarts them, this never runs twice."""
    ns = config.namespace

    def make(cls: type, role: Role, key: str | None, *args: Any) -> Any:
        opts = actor_options(role, layout, actor_name(role, key), ns)
        return ray.remote(cls).options(**opts).remote(*args)

    monitors = {v: make(MarketMonitor, Role.MONITOR, v, v, config) for v in VENUES}
    arbiter = make(Arbiter, Role.ARBITER, None, config)
    risk = make(RiskManagerActor, Role.RISK, None, config)
    executors = {t.name: make(Executor, Role.EXECUTOR, t.name, config, t.name)
                 for t in config.tenants}
    return EngineHandles(layout, monitors, arbiter, risk, executors)
