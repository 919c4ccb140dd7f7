"""The arbiter: the process that owns the tick path (feeds → detector → gate → first order) and
every tenant's executor, journal, risk and reconciliation (ADR 0060, 0140).

It runs as the ``arbiter`` Ray actor (:mod:`arbiter.engine.actors`) or in-process (paper,
tests); what it assembles comes from :mod:`arbiter.app.build`, what it runs per tick from
:mod:`arbiter.execution`. On (re)start it recovers unfinished sagas from the journals *before*
subscribing to the feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Container
from dataclasses import replace
from typing import Any

import ray

from arbiter.app.build import (
    build_detector,
    build_tenant,
    kalshi_signer,
    limiter_for,
    refresh_market_data,
    refresh_pair,
    warm_up,
)
from arbiter.app.config import EngineConfig, TenantConfig
from arbiter.app.feeds import VENUES, Feeds, detector_books, feed_summary, start_feeds
from arbiter.core import compiled
from arbiter.core.accounts import TenancyError, Tier, UserContext, apply_tier, check_markets
from arbiter.core.ratelimit import RateLimiter
from arbiter.core.units import MONEY_SCALE, money_str, price_str
from arbiter.engine.tuning import tune_for_latency
from arbiter.execution.executor import Begun
from arbiter.execution.lifecycle import LifecycleGuard
from arbiter.execution.operator import OPERATOR_STATE, OperatorState
from arbiter.execution.reconcile import UNKNOWN as RECONCILE_UNKNOWN
from arbiter.execution.reconcile import ReconcileJob, ReconcileReport
from arbiter.execution.recovery import recover
from arbiter.execution.run_report import (
    day_start,
    journal_summary,
    merge_summaries,
    read_journal_summary,
)
from arbiter.execution.sharing import SharedLauncher
from arbiter.execution.tenant import TenantRuntime
from arbiter.execution.tickpath import BookQuotes, RiskGate, SagaReport, TickPath
from arbiter.execution.timing import (
    DETECTED_NS,
    first_leg_summary,
    lane_stats,
    open_order_lanes,
    time_first_leg,
)
from arbiter.execution.warm import PathWarmer, build_warmer
from arbiter.telemetry.logging import log_context
from arbiter.telemetry.metrics import Metrics, MetricsServer, serve_metrics
from arbiter.telemetry.ray_metrics import ArbiterRayMetrics
from arbiter.telemetry.tracing import SagaTracer, SagaTraces, provider_from_env
from arbiter.tenancy.registry import TenantRegistry
from arbiter.venues.base import AuthError, ExchangeClient, unwrap
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.market_info import market_changed
from arbiter.venues.polymarket.parsing import FeedStats, MarketBooks
from arbiter.venues.polymarket.schemas import LifecycleEvent, MarketResolvedEvent

__all__ = ["Arbiter", "cancel_open", "dollars", "ray_node_id", "spawn", "top_quote"]

log = logging.getLogger(__name__)


def dollars(amount: int) -> float:
    """Money → float for *export only* (Prometheus gauges are doubles); never computed with."""
    return amount / MONEY_SCALE


def ray_node_id() -> str:
    return str(ray.get_runtime_context().get_node_id())


def spawn(coro: Any) -> asyncio.Task[Any]:
    """Start background work from an actor ``__init__`` (runs on the actor's event loop)."""
    return asyncio.get_event_loop().create_task(coro)


async def cancel_open(clients: dict[str, ExchangeClient]) -> int:
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


def top_quote(bid: int | None, ask: int | None) -> dict[str, str | None]:
    return {"bid": price_str(bid) if bid is not None else None,
            "ask": price_str(ask) if ask is not None else None}


class _Launcher:
    """Adapts a tenant's :class:`SagaExecutor` to the shared launcher (ADR 0147): begin a saga
    now, or say why not with nothing consumed, so the opportunity can go to the next tenant."""

    def __init__(self, runtime: TenantRuntime) -> None:
        self.runtime = runtime

    def try_start(self, opportunity: Any) -> Awaitable[SagaReport] | str:
        traces = self.runtime.traces
        traced = traces.opened(opportunity) if traces is not None else None
        token = DETECTED_NS.set(opportunity.detected_ns)
        try:
            begun = self.runtime.executor.begin(opportunity)  # leg 1 is on the wire after this
        except BaseException:
            if traces is not None and traced is not None:
                traces.closed(traced, opportunity, None, False)
            raise
        finally:
            DETECTED_NS.reset(token)
        if traces is not None and traced is not None:
            traces.closed(traced, opportunity, begun.risk, begun.saga is not None)
        if begun.saga is None:
            risk = begun.risk
            return risk.reason.value if risk and risk.reason else "risk"
        return self._finish(opportunity, begun)

    async def _finish(self, opportunity: Any, begun: Begun) -> SagaReport:
        assert begun.saga is not None
        trace_id = None
        if self.runtime.traces is not None:  # leg 1 is out: now the context for a recovery
            trace_id = self.runtime.traces.save_context(begun.saga.saga_id)
        with log_context(trace_id=trace_id):  # the saga's log records name its trace
            saga = await self.runtime.executor.complete(begun)
        finished = saga.finished
        outcome = saga.ending.value if saga.ending is not None else "unfinished"
        pnl = finished.pnl if finished is not None else 0
        return SagaReport(saga.saga_id, opportunity.pair, opportunity.direction, outcome, pnl,
                          self.runtime.name)


class Arbiter:
    """Book cache + detection + the tenants' executors: the whole tick path, one process."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.started_ns = time.time_ns()
        self.ready_ns: int | None = None
        self.error: str | None = None
        # which build of the hot core (books, fees, sizing, detection, gate) this tick path runs (ADR 0155)
        log.info("arbiter %s", compiled().describe())
        self.detector = build_detector(config)
        #: closed / paused / settled Kalshi markets: halt, cancel, settle (engine/lifecycle.py)
        self.lifecycle = LifecycleGuard(self.detector, lambda: self.tenants.values())
        self.gate = RiskGate(config.gate)
        self.tick = TickPath(self.detector, self.gate, None, on_report=self._on_report)
        #: every trading tenant in one rotation: each opportunity goes whole to one (ADR 0147)
        self.launcher = SharedLauncher(self._blocked, on_launch=self._launched,
                                       on_bench=self._benched)
        self.tenants: dict[str, TenantRuntime] = {}
        #: the config each running tenant was started from (tier changes replace it)
        self.tenant_configs: dict[str, TenantConfig] = {}
        #: tenants that could not start, and why (the others trade)
        self.tenant_errors: dict[str, str] = {}
        self._limiter: RateLimiter = config.rate_limiter()
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
        self._ray = ArbiterRayMetrics()
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
        #: tenant starts and stops the registry asked for (:meth:`follow`)
        self._tenant_tasks: set[asyncio.Task[Any]] = set()
        # operator state (control plane): journaled on every change and read back at boot, so
        # a restarted arbiter is as paused or stopped as it was (ADR 0142); the kill switch is
        # in the journal already (RiskManager.kill) and read back the same way
        self._ops = {t.name: OperatorState() for t in config.tenants}
        #: tenants switched before their journal was open: written once it is
        self._ops_unsaved: set[str] = set()
        self._alerts: deque[dict[str, Any]] = deque(maxlen=500)
        self._seq = 0
        self._launches: deque[tuple[int, str, Any]] = deque(maxlen=1000)
        self._saga_log: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=1000)
        #: today's residual reports per tenant, read from the journal (ADR 0171)
        self._residuals: dict[str, list[dict[str, Any]]] = {}
        self._residual_day = 0
        self._journal_cache: tuple[Any, dict[str, Any]] | None = None
        self._task = spawn(self._boot())
        self._metrics_task = spawn(self._export())

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
            self._limiter = self.config.rate_limiter()  # one per deployment: tenants share the IP
            for tenant in self.config.tenants:
                # one tenant that cannot start (credentials, tier caps) does not keep the
                # others from trading: it is reported and alerted (ADR 0147)
                await self._start_or_report(tenant)
            if not self.tenants:
                raise RuntimeError("no tenant could start: " + "; ".join(
                    f"{n}: {why}" for n, why in self.tenant_errors.items()))
            self.tick.launcher = self.launcher  # every tenant trades (ADR 0147)
            kbooks = {p.kalshi_ticker: self.detector.kalshi_book(p.kalshi_ticker)
                      for p in self.config.pairs}
            pbooks = detector_books(self.detector, self._on_token, self._on_lifecycle)
            pbooks.on_tick_change = lambda token, _tick: self._refresh_market(token)
            self.poly_books = pbooks
            # the Kalshi WebSocket signs with one tenant's key: one that did start (a tenant
            # whose credentials failed must not take the market data down for the others)
            feed_tenant = self.tenant_configs[next(iter(self.tenants))]
            self.feeds = await start_feeds(
                self.config.with_overrides(tenants=(feed_tenant,)), kbooks, pbooks,
                lambda book: self._on_kalshi(book.ticker), lifecycle=self.lifecycle,
            )
            # ... and with the next tenant's when the venue refuses that key (revoked, rotated)
            self.feeds.kalshi.spare_signers = [
                kalshi_signer(self.tenant_configs[name]) for name in list(self.tenants)[1:]]
            self.detector.block_when(_NotIn(self.feeds.kalshi.valid, frozenset(kbooks)))
            if self.config.warm_us:
                self.warmer = build_warmer(self.config.pairs, self.config.detection,
                                           self.config.warm_us / 1e6)
                if self.warmer is not None:  # one tenant's begin is rehearsed: the code is shared
                    first = next(iter(self.tenants.values()))
                    self.warmer.add_executor(first.executor, first.risk.book.limits)
                    self.warmer.start()
            tune_for_latency(self.config.priority, self.config.realtime, self.config.tick_cpus)
            self.ready_ns = time.time_ns()
        except Exception as exc:  # surfaced through status(); the supervisor decides
            log.exception("arbiter failed to start")
            self.error = f"{type(exc).__name__}: {exc}"

    # -- tenants: start, add, remove, tier (ADR 0147) --------------------------------------------
    async def _start_or_report(self, tenant: TenantConfig) -> TenantRuntime | None:
        try:
            return await self._start_tenant(tenant)
        except Exception as exc:  # reported; the other tenants trade on
            log.error("tenant %s will not trade: %s: %s", tenant.name, type(exc).__name__, exc)
            self.tenant_errors[tenant.name] = f"{type(exc).__name__}: {exc}"
            self._alert(tenant.name, "tenant", f"not started: {type(exc).__name__}: {exc}")
            return None

    def _tenant_pairs(self, tenant: TenantConfig) -> list[str]:
        """The pairs ``tenant`` trades, refused (TenancyError) beyond its tier's ``max_markets``."""
        names = [p.name for p in self.config.pairs]
        chosen = names if tenant.pairs is None else [n for n in names if n in tenant.pairs]
        check_markets(tenant.user(), chosen)
        return chosen

    async def _start_tenant(self, tenant: TenantConfig) -> TenantRuntime:
        """Build, restore, recover, reconcile and put one tenant into the rotation."""
        pairs = self._tenant_pairs(tenant)  # the tier's market cap, before anything is opened
        self._ops.setdefault(tenant.name, OperatorState())
        self.metrics.zero(VENUES, [tenant.name], [p.name for p in self.config.pairs])
        try:
            runtime = await build_tenant(self.config, tenant, self._limiter,
                                         self.metrics.rate_limit_rejected)
        except BaseException:
            with contextlib.suppress(ValueError):  # a retried add gets fresh budgets
                self._limiter.remove_tenant(tenant.name, time.time_ns())
            raise
        try:
            self._restore_operator(runtime)
            if not self.config.dry_run:
                await open_order_lanes(runtime)
            time_first_leg(runtime, self.tick, self._ray.detect_to_order, self.metrics)
            self._trace(runtime)  # before the recovery: its sagas continue their traces
            # residuals (ADR 0171) alert from the first one, the recovery's included
            runtime.executor.on_residual.append(functools.partial(self._on_residual, tenant.name))
            report = await recover(runtime.executor, runtime.risk.book)
            self.recovered[tenant.name] = {"sagas": report.sagas, "endings": report.endings,
                                           "ms": report.elapsed_ms, "errors": report.errors,
                                           "residuals": report.residuals,
                                           "books": report.books,
                                           "book_errors": report.book_errors}
            self._load_residuals(runtime)
            await warm_up(runtime, self.config)
        except BaseException:
            await runtime.close()
            with contextlib.suppress(ValueError):
                self._limiter.remove_tenant(tenant.name, time.time_ns())
            raise
        runtime.executor.quotes = BookQuotes(self.detector)  # hedges see the live books
        name = tenant.name
        runtime.executor.on_rejected = (
            lambda venue, market, exc: self._on_tenant_rejected(name, venue, market, exc))
        self.tenants[name] = runtime
        self.tenant_configs[name] = tenant
        self.tenant_errors.pop(name, None)
        # after the recovery, before the first saga: journal vs venue (ADR 0140)
        job = self._reconciler(runtime)
        self.reconcilers[name] = job
        try:
            await job.run_once()
        except Exception:  # unknown is never zero: no saga until a round is clean
            log.exception("reconciliation of %s after recovery failed", name)
            job.blocking = RECONCILE_UNKNOWN
        job.start()
        self.launcher.add(name, _Launcher(runtime), tenant.user().limits.fair_share_weight, pairs)
        return runtime

    def _on_tenant_rejected(self, tenant: str, venue: str, market: str,
                            exc: BaseException) -> None:
        """A venue refused one of ``tenant``'s orders: bad credentials bench the tenant alone."""
        if isinstance(exc, AuthError):
            self._alert(tenant, "credentials", f"{venue} refused the credentials: {exc}")
            self.launcher.strike(tenant, "credentials")
        self._on_rejected(venue, market, exc)

    def _benched(self, tenant: str, reason: str) -> None:
        self._alert(tenant, "benched", f"out of the rotation for a while: {reason}")

    async def add_tenant(self, tenant: TenantConfig) -> dict[str, Any]:
        """Start trading for ``tenant`` while running (the control plane, a registry hook).

        All or nothing: a tenant that cannot start (credentials, tier caps, recovery) is closed
        again and the error raised; the running tenants are not touched either way."""
        if tenant.name in self.tenants:
            raise TenancyError(f"tenant {tenant.name!r} is already trading")
        if self.ready_ns is None:
            raise RuntimeError("the arbiter is not ready yet")
        try:
            await self._start_tenant(tenant)
        except BaseException:
            self.tenant_errors.pop(tenant.name, None)
            if tenant.name not in self.tenants:
                self._ops.pop(tenant.name, None)
            raise
        self.config = self.config.with_overrides(
            tenants=(*[t for t in self.config.tenants if t.name != tenant.name], tenant))
        self._alert(tenant.name, "tenant", "added: trading")
        return {"tenant": tenant.name, "recovered": self.recovered.get(tenant.name)}

    async def remove_tenant(self, name: str) -> dict[str, Any]:
        """Stop trading for ``name`` while running: out of the rotation at once, its sagas in
        flight finish, its open orders are cancelled, its journal and clients closed."""
        rt = self.tenants.get(name)
        if rt is None:
            raise KeyError(name)
        self.launcher.remove(name)  # no new saga from the next tick on
        job = self.reconcilers.pop(name, None)
        if job is not None:
            await job.stop()
        deadline = time.monotonic() + 30.0
        while rt.risk.book.reservations and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # a saga is never abandoned mid-way
        canceled = await cancel_open(rt.clients)
        if self.warmer is not None and self.warmer.rehearsals:
            self.warmer.stop()  # it may rehearse this tenant's executor; trading goes on
            self.warmer = None
        del self.tenants[name]
        self.tenant_configs.pop(name, None)
        self._ops.pop(name, None)
        self.recon_blocked.pop(name, None)
        await rt.close()
        with contextlib.suppress(ValueError):
            self._limiter.remove_tenant(name, time.time_ns())  # its share of the IP budget
        self.config = self.config.with_overrides(
            tenants=tuple(t for t in self.config.tenants if t.name != name))
        self._alert(name, "tenant", f"removed; {canceled} open orders cancelled")
        return {"tenant": name, "canceled": canceled}

    def follow(self, registry: TenantRegistry,
               config_for: Callable[[UserContext], TenantConfig]) -> None:
        """Start and stop tenants as the live :class:`TenantRegistry` adds and removes them.

        ``config_for`` turns a registry entry into the tenant's reference-only config (usually
        ``engine_tenant_config(store, ctx.tenant_id, tier=ctx.tier)``). The registry's hooks are
        synchronous and a start is not, so the add hook does synchronously what can fail fast —
        the credentials authenticated by ``config_for``, the tier's market cap — and a failure
        there refuses the registry's add; the start itself (journal, recovery, reconciliation)
        then runs on the event loop, and if it fails the tenant is taken out of the registry
        again and alerted: a tenant ends up either trading or absent. Change the registry on
        the arbiter's event loop (the hooks schedule their work there).
        """
        def on_add(ctx: UserContext) -> None:
            if ctx.tenant_id in self.tenants:
                return  # already trading (the config's tenants, replayed)
            tenant = replace(config_for(ctx), tier=ctx.tier.value)
            self._tenant_pairs(tenant)  # TenancyError: refused before anything starts
            task = spawn(self.add_tenant(tenant))
            self._tenant_tasks.add(task)

            def done(t: asyncio.Task[Any]) -> None:
                self._tenant_tasks.discard(t)
                if not t.cancelled() and t.exception() is not None:
                    exc = t.exception()
                    self._alert(ctx.tenant_id, "tenant", f"not started: {exc}")
                    with contextlib.suppress(TenancyError):
                        registry.remove(ctx.tenant_id)

            task.add_done_callback(done)

        def on_remove(ctx: UserContext) -> None:
            if ctx.tenant_id in self.tenants:
                task = spawn(self.remove_tenant(ctx.tenant_id))
                self._tenant_tasks.add(task)
                task.add_done_callback(self._tenant_tasks.discard)

        registry.subscribe(on_add, on_remove)

    async def set_tier(self, name: str, tier: str) -> dict[str, Any]:
        """A tier change while running: markets cap checked first (refused: nothing changes),
        then the risk limits re-capped and the fair-share weight replaced."""
        (name,) = self._scope(name)
        rt, tenant = self.tenants.get(name), self.tenant_configs.get(name)
        if rt is None or tenant is None:
            raise KeyError(f"{name} is not running")
        changed = replace(tenant, tier=Tier.parse(tier).value)
        pairs = self._tenant_pairs(changed)  # TenancyError: the tier is too small for its pairs
        user = changed.user()
        rt.risk.book.limits = apply_tier(self.config.limits, user)
        self.launcher.set_weight(name, user.limits.fair_share_weight)
        self.launcher.set_pairs(name, pairs)
        self.tenant_configs[name] = changed
        self._limiter.remove_tenant(name, time.time_ns())  # the new tier's order budget
        limiter_for(self._limiter, changed)
        self.config = self.config.with_overrides(tenants=tuple(
            changed if t.name == name else t for t in self.config.tenants))
        self._alert(name, "tier", f"tier {user.tier.value}")
        return {"tenant": name, "tier": user.tier.value}

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
                self._ops[name] = OperatorState.from_json(last)
                if self._ops[name] != OperatorState():
                    self._alert(name, "operator", f"restored from the journal: {last}")
        kill = None
        for _, _, body in journal.logs("kill_switch"):
            kill = body
        reason = kill.get("reason") if kill is not None else None
        if isinstance(reason, str) and reason != "reset" and runtime.risk.book.killed is None:
            runtime.risk.book.trip(reason, time.time_ns())
            self._alert(name, "kill_switch", f"restored from the journal: {reason}")

    # -- residuals (ADR 0171) -----------------------------------------------------------------------
    def _load_residuals(self, runtime: TenantRuntime) -> None:
        """Today's residual reports of the tenant, as its journal has them (the gauges' source)."""
        since = day_start(time.time_ns())
        self._residual_day = since
        self._residuals[runtime.name] = journal_summary(runtime.journal, since)["residuals"]

    def _on_residual(self, tenant: str, residual: Any) -> None:
        self._alert(tenant, "residual", f"{residual.name}: {residual.contracts} contracts "
                    f"(value {money_str(residual.value)}) left open: {residual.reason}")
        rt = self.tenants.get(tenant)
        if rt is not None:
            self._load_residuals(rt)
        else:  # during the boot's recovery: the tenant is registered right after
            self._residuals.setdefault(tenant, []).append(residual.to_dict())

    async def _journal_view(self, since_ns: int | None) -> dict[str, Any]:
        """Per tenant and in total, what the journals say since ``since_ns`` (default: today).

        Read on a worker thread through a connection of its own (never on the tick path's
        loop), and only again once a journal was written to since the last read.
        """
        since = day_start(time.time_ns()) if since_ns is None else since_ns
        key = (since, tuple((n, rt.journal.writes) for n, rt in self.tenants.items()))
        cached = self._journal_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        tenants: dict[str, Any] = {}
        for name, rt in self.tenants.items():
            try:
                rt.journal.flush()  # the projections of a start just sent (microseconds)
                tenants[name] = await asyncio.to_thread(read_journal_summary, rt.journal.path,
                                                        since)
            except Exception as exc:  # unknown is never zero: say so, do not report 0 sagas
                tenants[name] = {"error": f"{type(exc).__name__}: {exc}"}
        total = merge_summaries([t for t in tenants.values() if "error" not in t])
        total["errors"] = {n: t["error"] for n, t in tenants.items() if "error" in t}
        view = {"since_ns": since, "tenants": tenants, **total}
        if not total["errors"]:
            self._journal_cache = (key, view)
        return view

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
        for venue in report.refused:  # a revoked key, found before an order had to meet it
            self._alert(tenant, "credentials",
                        f"{venue} refused the credentials (reconciliation round)")
            self.launcher.strike(tenant, "credentials")
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
        task = spawn(self._refresh(name))
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
            for runtime in list(self.tenants.values()):  # a tenant may come or go meanwhile
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
        found = stats.opportunities - before
        if found:  # seen by every tenant that trades the pair (its own share is allotted)
            for member in self.launcher.members.values():
                if pair in member.pairs:
                    for _ in range(found):
                        m.opportunity(member.name, pair)

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

    def _on_report(self, _opp: Any, report: SagaReport) -> None:
        self._seq += 1
        self._saga_log.append((self._seq, report.tenant,
                               {"saga": report.saga_id, "pair": report.pair, "outcome": report.outcome,
                                "pnl": report.pnl, "ts_ns": time.time_ns()}))
        if not report.outcome.startswith("rejected:"):
            self._ray.sagas.inc(tags={"outcome": report.outcome})
            self.metrics.saga_finished(report.tenant, report.pair, report.outcome)
        self._ray.realised_pnl.set(dollars(self.tick.stats.pnl))

    def _export_state(self) -> None:
        """Refresh the state gauges and the refusal counters from the tenants' risk books."""
        m = self.metrics
        for name, member in list(self.launcher.members.items()):
            for reason, n in list(member.refused.items()):
                key = f"{name}\0{reason}"
                for _ in range(n - self._refused_seen.get(key, 0)):
                    m.risk_rejected(name, reason)
                self._refused_seen[key] = n
            # fees are inside each saga's settlement-valued PnL; marks are not tracked here
            m.set_pnl(name, member.pnl, 0, 0)
        for name, rt in self.tenants.items():
            book = rt.risk.book
            m.set_kill_switch(name, book.killed is not None)
            m.set_daily(name, book.daily_pnl, book.limits.max_daily_loss)
            m.open_sagas.labels(m.tenant(name)).set(len(book.reservations))
            for venue, held in book.held_venue.items():
                m.set_exposure(name, venue, held)
            if day_start(time.time_ns()) != self._residual_day:
                self._load_residuals(rt)
            m.set_residuals(name, self._residuals.get(name, []), rt.clients)
        self._export_feed_health()

    async def _export(self) -> None:
        last_ticks, last_opps = 0, 0
        while True:
            await asyncio.sleep(1.0)
            stats = self.tick.stats
            self._ray.ticks.set(stats.ticks - last_ticks)
            if stats.opportunities > last_opps:
                self._ray.opportunities.inc(stats.opportunities - last_opps)
            last_ticks, last_opps = stats.ticks, stats.opportunities
            try:
                self._export_state()
            except Exception:  # metrics must never take the actor down
                log.exception("metrics export failed")

    async def status(self, since_ns: int | None = None) -> dict[str, Any]:
        """The engine's state. ``sagas``, ``pnl`` and ``residuals`` are the journals' since
        ``since_ns`` (default: the start of the UTC day), whatever incarnation wrote them (ADR
        0172); ``incarnation`` has this process's own counts, for comparison only."""
        s = self.tick.stats
        journal = await self._journal_view(since_ns)
        lat = s.decide_ns
        risk = {name: {"killed": rt.risk.book.killed, "open": len(rt.risk.book.reservations),
                       "daily_pnl": money_str(rt.risk.book.daily_pnl)}
                for name, rt in self.tenants.items()}
        return {
            "ready": self.ready_ns is not None, "error": self.error, "pid": os.getpid(),
            "core": compiled().as_dict(),
            "started_ns": self.started_ns, "ready_ns": self.ready_ns,
            "ticks": s.ticks, "opportunities": s.opportunities, "admitted": s.admitted,
            "sagas": journal["sagas"], "refused": dict(s.refused), "pnl": journal["pnl"],
            "residuals": journal["residuals"], "journal": journal,
            "incarnation": {"sagas": dict(s.sagas), "pnl": s.pnl},
            "market_refused": dict(self.market_refused),
            "market_refreshes": self.market_refreshes,
            "recent": list(s.recent),
            "rejections": dict(self.gate.rejections), "risk": risk, "recovered": self.recovered,
            "detect_to_launch_us": {
                "p50": (lat.percentile(0.5) or 0) / 1000, "p99": (lat.percentile(0.99) or 0) / 1000,
            },
            "launch_us": {"p50": (s.start_ns.percentile(0.5) or 0) / 1000,
                          "p99": (s.start_ns.percentile(0.99) or 0) / 1000},
            "first_leg_ms": first_leg_summary(self.tick),
            "order_lanes": {name: lane_stats(rt) for name, rt in self.tenants.items()},
            "metrics_port": self.metrics_server.port if self.metrics_server is not None else None,
            "warm": self.warmer.stats() if self.warmer is not None else None,
            # why opportunities were not sized (book too old, resyncing, resolved, unsequenced)
            "skipped": dict(self.detector.skipped),
            "polymarket_feed": feed_summary(self.poly_books),
            "reconciliation": {name: _reconcile_summary(job)
                               for name, job in self.reconcilers.items()},
            "allocation": self.launcher.summary(), "tenant_errors": dict(self.tenant_errors),
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
        for rt in list(self.tenants.values()):
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
        for rt in list(self.tenants.values()):
            canceled += await cancel_open(rt.clients)
            await rt.close()
        if self.tracer is not None:  # the batch's last spans leave before the actor is killed
            self.tracer.flush(5_000)
        # the metrics endpoint stays up: the final counters and the kill switch stay scrapeable
        return {"stopped": True, "canceled": canceled}

    # -- control plane (arbiter.control.ray_engine.RayEngineControl) -------------------------
    def _blocked(self, tenant: str, pair: str) -> str | None:
        ops = self._ops.get(tenant)
        if ops is None:
            return None
        refusal = ops.refusal(pair)
        if refusal is not None:
            return refusal
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

    async def tenant_configs_now(self) -> list[TenantConfig]:
        """The trading tenants' reference-only configs, those added while running included (the
        run loop gives each its executor actor: ``EngineHandles.adopt_tenants``)."""
        return list(self.config.tenants)

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
        tenant_cfg = self.tenant_configs.get(name)
        if tenant_cfg is not None:  # the tier caps what an operator sets (apply_tier)
            limits = apply_tier(limits, tenant_cfg.user())
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
        return ray_node_id()

