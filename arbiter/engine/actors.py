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
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ray

from arbiter.app.build import build_clients
from arbiter.app.config import EngineConfig, TenantConfig
from arbiter.app.feeds import VENUES, Feeds, start_feeds
from arbiter.core.book import Outcome
from arbiter.core.units import price_str
from arbiter.engine.arbiter import Arbiter, cancel_open, dollars, ray_node_id, spawn, top_quote
from arbiter.engine.placement import Layout, Role, actor_options
from arbiter.execution.journal import Journal
from arbiter.execution.run_report import journal_summary
from arbiter.telemetry.ray_metrics import MonitorRayMetrics, RiskRayMetrics
from arbiter.venues.base import DryRunClient, ExchangeClient
from arbiter.venues.polymarket.parsing import MarketBooks

__all__ = ["EngineHandles", "Executor", "MarketMonitor", "RiskManagerActor", "actor_name", "spawn_engine"]

log = logging.getLogger(__name__)


def actor_name(role: Role, key: str | None = None) -> str:
    """Names as the dashboard shows them: ``monitor:kalshi``, ``arbiter``, ``executor:main``."""
    base = {Role.MONITOR: "monitor", Role.ARBITER: "arbiter", Role.RISK: "risk-manager",
            Role.EXECUTOR: "executor"}[role]
    return f"{base}:{key}" if key else base


class MarketMonitor:
    """One venue's feed and books, for everything that is *not* the tick path."""

    def __init__(self, venue: str, config: EngineConfig) -> None:
        self.venue = venue
        self.config = config
        self.events = 0
        self.started_ns = time.time_ns()
        self.poly_books = MarketBooks(on_change=self._count)
        self.feeds: Feeds | None = None
        self._ray = MonitorRayMetrics(venue)
        self._task = spawn(self._run())

    def _count(self, _key: object) -> None:
        self.events += 1
        self._ray.events.inc()

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
                quote: dict[str, str | None] = top_quote(book.best_bid(Outcome.YES),
                                                      book.best_ask(Outcome.YES))
                trade = feed.trades.get(ticker)  # the public ``trade`` channel's last print
                quote["last"] = price_str(trade.yes_price) if trade is not None else None
                phase = feed.phases.get(ticker)
                quote["phase"] = phase.value if phase is not None else None
                out[ticker] = quote
        else:
            for token, tbook in self.poly_books.books.items():
                out[token] = top_quote(tbook.best_bid, tbook.best_ask)
        return out

    async def health(self) -> dict[str, Any]:
        synced = False
        if self.feeds is not None:
            synced = (self.feeds.kalshi.synced if self.venue == "kalshi"
                      else not self.poly_books.stale and bool(self.poly_books.books))
        return {"venue": self.venue, "events": self.events, "synced": synced,
                "uptime_s": (time.time_ns() - self.started_ns) / 1e9, "pid": os.getpid()}

    def node_id(self) -> str:
        return ray_node_id()

    async def stop(self) -> None:
        if self.feeds is not None:
            await self.feeds.stop()


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
        self._ray = RiskRayMetrics()
        self._task = spawn(self._loop())

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
            self._ray.exposure.set(dollars(exposure))
            self._ray.daily_pnl.set(dollars(day))
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
        return ray_node_id()


class Executor:
    """One tenant's account view: journal-derived positions/PnL, open orders, stop."""

    def __init__(self, config: EngineConfig, tenant: str) -> None:
        self.config = config
        self.tenant = next(t for t in config.tenants if t.name == tenant)
        self.clients: dict[str, ExchangeClient] = {}
        self.started_ns = time.time_ns()
        self._task = spawn(self._boot())

    async def _boot(self) -> None:
        self.clients = await build_clients(self.config, self.tenant)

    def _journal(self) -> Journal | None:
        path = self.config.journal_path(self.tenant.name)
        return Journal(path, synchronous="NORMAL") if path.exists() else None

    async def summary(self, since_ns: int | None = None) -> dict[str, Any]:
        """Sagas by ending, orders, positions and PnL, rebuilt from the journal every time.

        With ``since_ns``, ``run`` is the journal's account of the sagas started or finished
        since then (the run summary's source, ADR 0172), residuals included.
        """
        journal = self._journal()
        if journal is None:
            empty = journal_summary_empty(since_ns)
            return {"tenant": self.tenant.name, "sagas": {}, "orders": 0, "pnl": 0,
                    "pid": os.getpid(), **({"run": empty} if empty is not None else {})}
        try:
            endings = journal.endings()
            orders = journal.orders()
            pnl = sum(r.pnl for r in journal.sagas_since(0) if r.ending is not None)
            cids = [o.cid for o in orders]
            out = {"tenant": self.tenant.name, "sagas": endings, "orders": len(orders),
                   "unique_cids": len(set(cids)), "unfinished": len(journal.unfinished()),
                   "pnl": pnl, "pid": os.getpid()}
            if since_ns is not None:
                out["run"] = journal_summary(journal, since_ns)
            return out
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
        return await cancel_open(self.clients)

    def node_id(self) -> str:
        return ray_node_id()

    async def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.close()


def journal_summary_empty(since_ns: int | None) -> dict[str, Any] | None:
    """The run account of a tenant whose journal does not exist yet: nothing happened."""
    if since_ns is None:
        return None
    return {"since_ns": since_ns, "sagas": {}, "pnl": 0, "residuals": [],
            "residual_contracts": 0, "residual_value": 0}


@dataclass
class EngineHandles:
    layout: Layout
    monitors: dict[str, Any]
    arbiter: Any
    risk: Any
    executors: dict[str, Any]

    def all(self) -> list[Any]:
        return [*self.monitors.values(), self.arbiter, self.risk, *self.executors.values()]

    def adopt_tenants(self, config: EngineConfig, tenants: Iterable[TenantConfig]) -> list[str]:
        """Give each tenant without an executor actor its own, placed as at start.

        A tenant added while running (the control plane, a registry hook: ADR 0148) trades in
        the arbiter at once, but its account view (journal, open orders at stop) lives in its
        executor actor: without one its sagas and PnL would be missing from the run's account.
        A removed tenant keeps its executor until the run ends (its journal still has its part
        of the run). Returns the tenants adopted now.
        """
        adopted = []
        for tenant in tenants:
            if tenant.name not in self.executors:
                self.executors[tenant.name] = _spawn(
                    Executor, Role.EXECUTOR, tenant.name, self.layout, config.namespace,
                    _with_tenant(config, tenant), tenant.name)
                adopted.append(tenant.name)
        return adopted


def _with_tenant(config: EngineConfig, tenant: TenantConfig) -> EngineConfig:
    if any(t.name == tenant.name for t in config.tenants):
        return config
    return config.with_overrides(tenants=(*config.tenants, tenant))


def _spawn(cls: type, role: Role, key: str | None, layout: Layout, namespace: str,
           *args: Any) -> Any:
    opts = actor_options(role, layout, actor_name(role, key), namespace)
    return ray.remote(cls).options(**opts).remote(*args)


def spawn_engine(config: EngineConfig, layout: Layout) -> EngineHandles:
    """Create every actor with its placement; Ray restarts them, this never runs twice."""
    ns = config.namespace
    monitors = {v: _spawn(MarketMonitor, Role.MONITOR, v, layout, ns, v, config) for v in VENUES}
    arbiter = _spawn(Arbiter, Role.ARBITER, None, layout, ns, config)
    risk = _spawn(RiskManagerActor, Role.RISK, None, layout, ns, config)
    handles = EngineHandles(layout, monitors, arbiter, risk, {})
    handles.adopt_tenants(config, config.tenants)
    return handles

