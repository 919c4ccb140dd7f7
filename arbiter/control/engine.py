"""What the control plane needs from an engine, and an in-process engine state that provides it.

The gRPC service and the Telegram bot both talk to :class:`EngineControl`, never to actors or
venue clients, so the same API fronts a single-process engine, the Ray engine (an adapter that
forwards these calls to its actors) or a remote engine (:class:`~arbiter.control.client.
RemoteEngine`). Every method is async because the real implementations cross a process boundary.

:class:`InProcessEngine` keeps the operator-visible state of each tenant on the core objects the
execution layer already uses: a :class:`~arbiter.core.risk.RiskBook` (limits, kill switch, day
PnL), a :class:`~arbiter.core.positions.PositionBook` and the open orders. The trading shell
asks :meth:`InProcessEngine.may_trade` before it starts a saga and reports opportunities, saga
events, orders and fills back; the control API reads and steers the very same objects, so a
kill switch set over gRPC is the one the risk check consults.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Generic, Protocol, TypeVar

from arbiter.core.detection import Opportunity
from arbiter.core.positions import PnL, Position, PositionBook
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import Ending, Event, Finished, Intent, OrderFinal, Saga
from arbiter.execution.operator import OperatorState
from arbiter.tenancy.registry import TenantRegistry

__all__ = [
    "ActionResult", "Alert", "EngineControl", "EngineStatus", "InProcessEngine", "OrderView",
    "SagaUpdate", "TenantHooks", "TenantPnL", "TenantStatus", "UnknownTenant",
]

T = TypeVar("T")


class UnknownTenant(KeyError):
    """The caller named a tenant this engine does not run."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    changed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class TenantStatus:
    tenant: str
    running: bool
    paused_all: bool
    paused_pairs: tuple[str, ...]
    kill_reason: str | None
    open_sagas: int
    open_orders: int
    daily_pnl: int


@dataclass(frozen=True, slots=True)
class EngineStatus:
    engine: str
    now_ns: int
    tenants: tuple[TenantStatus, ...]
    pairs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    tenant: str
    saga_id: str
    venue: str
    market: str
    outcome: str
    action: str
    price: int
    size: int
    filled: int
    status: str
    created_ns: int


@dataclass(frozen=True, slots=True)
class TenantPnL:
    tenant: str
    pnl: PnL
    daily: int


@dataclass(frozen=True, slots=True)
class Alert:
    tenant: str
    kind: str
    detail: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class SagaUpdate:
    tenant: str
    saga_id: str
    pair: str
    kind: str
    state: str
    detail: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class OpportunitySeen:
    tenant: str
    opportunity: Opportunity


class MetricsSink(Protocol):
    """The part of :class:`arbiter.telemetry.metrics.Metrics` the engine state feeds."""

    def opportunity(self, tenant: str, pair: str) -> None: ...
    def saga_finished(self, tenant: str, pair: str, outcome: str) -> None: ...
    def risk_rejected(self, tenant: str, reason: str) -> None: ...


class EngineControl(Protocol):
    """The operations an operator can perform; ``tenant=None`` means every tenant (admin only)."""

    name: str

    def tenants(self) -> list[str]: ...
    async def status(self, tenant: str | None) -> EngineStatus: ...
    async def start(self, tenant: str | None, pair: str | None) -> ActionResult: ...
    async def stop(self, tenant: str | None, pair: str | None) -> ActionResult: ...
    async def pause(self, tenant: str | None, pair: str | None) -> ActionResult: ...
    async def resume(self, tenant: str | None, pair: str | None) -> ActionResult: ...
    async def trip_kill_switch(self, tenant: str | None, reason: str) -> ActionResult: ...
    async def reset_kill_switch(self, tenant: str) -> ActionResult: ...
    async def orders(self, tenant: str | None) -> list[OrderView]: ...
    async def cancel_order(self, tenant: str, order_id: str) -> ActionResult: ...
    async def positions(self, tenant: str | None) -> list[tuple[str, Position]]: ...
    async def pnl(self, tenant: str | None) -> list[TenantPnL]: ...
    async def risk_limits(self, tenant: str) -> RiskLimits: ...
    async def set_risk_limits(self, tenant: str, limits: RiskLimits) -> RiskLimits: ...
    async def alerts(self, tenant: str | None) -> list[Alert]: ...
    def opportunities(self, tenant: str | None) -> AsyncIterator[OpportunitySeen]: ...
    def sagas(self, tenant: str | None) -> AsyncIterator[SagaUpdate]: ...


class Broadcast(Generic[T]):
    """Fan-out to any number of subscribers; a slow subscriber loses its oldest items.

    The engine must never wait for an operator's stream, so queues are bounded and overflow
    drops the oldest entry (the stream is a live view, the journal is the record).
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._subs: set[asyncio.Queue[T]] = set()
        self._maxsize = maxsize

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, item: T) -> None:
        for q in self._subs:
            if q.full():
                q.get_nowait()
            q.put_nowait(item)

    async def subscribe(self, keep: Callable[[T], bool] = lambda _: True) -> AsyncIterator[T]:
        q: asyncio.Queue[T] = asyncio.Queue(self._maxsize)
        self._subs.add(q)
        try:
            while True:
                item = await q.get()
                if keep(item):
                    yield item
        finally:
            self._subs.discard(q)


#: the shell's way to cancel an order at its venue; returns whether the venue accepted
Canceller = Callable[[OrderView], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class TenantHooks:
    """The execution layer's own actions, used instead of touching the risk book directly.

    ``kill`` is e.g. :meth:`arbiter.execution.risk_manager.RiskManager.kill` (trips the book *and*
    cancels every open order at the venues, and journals it); ``reset`` its ``reset``.
    """

    kill: Callable[[str], Awaitable[object]] | None = None
    reset: Callable[[], object] | None = None


@dataclass(slots=True)
class _Tenant:
    name: str
    risk: RiskBook
    positions: PositionBook = field(default_factory=PositionBook)
    #: the one operator state (start/stop/pause/resume), as the arbiter keeps it
    ops: OperatorState = field(default_factory=OperatorState)
    orders: dict[str, OrderView] = field(default_factory=dict)
    #: open saga id -> pair
    sagas: dict[str, str] = field(default_factory=dict)
    hooks: TenantHooks = field(default_factory=TenantHooks)


class InProcessEngine:
    """Operator state of every tenant, shared by the trading shell and the control plane."""

    name = "in-process"

    def __init__(
        self,
        tenants: Iterable[str],
        pairs: Iterable[str] = (),
        limits: RiskLimits | None = None,
        clock: Callable[[], int] = time.time_ns,
        canceller: Canceller | None = None,
        max_alerts: int = 500,
        metrics: MetricsSink | None = None,
    ) -> None:
        self._clock = clock
        self.metrics = metrics
        self._pairs = tuple(pairs)
        self._tenants = {t: _Tenant(t, RiskBook(limits)) for t in tenants}
        self._canceller = canceller
        self._alerts: deque[Alert] = deque(maxlen=max_alerts)
        self.opportunity_feed: Broadcast[OpportunitySeen] = Broadcast()
        self.saga_feed: Broadcast[SagaUpdate] = Broadcast()
        self.alert_feed: Broadcast[Alert] = Broadcast()

    def add_tenant(self, name: str, risk: RiskBook | None = None, positions: PositionBook | None = None,
                   hooks: TenantHooks | None = None) -> None:
        """Register a tenant on the execution layer's own objects (shared, not copied).

        Pass the executor's ``positions`` and the risk manager's ``book`` plus its kill/reset as
        hooks, and the control plane reads and steers exactly what trading uses.
        """
        self._tenants[name] = _Tenant(name, risk if risk is not None else RiskBook(),
                                      positions if positions is not None else PositionBook(),
                                      hooks=hooks or TenantHooks())

    def remove_tenant(self, name: str) -> None:
        self._tenants.pop(name, None)

    def follow(self, registry: TenantRegistry) -> None:
        """Track the live tenant registry: tenants added or removed there appear or vanish here."""
        registry.subscribe(
            on_add=lambda ctx: None if ctx.tenant_id in self._tenants else self.add_tenant(ctx.tenant_id),
            on_remove=lambda ctx: self.remove_tenant(ctx.tenant_id),
        )

    # -- lookups --------------------------------------------------------------------------------
    def tenants(self) -> list[str]:
        return list(self._tenants)

    def _one(self, tenant: str) -> _Tenant:
        try:
            return self._tenants[tenant]
        except KeyError:
            raise UnknownTenant(tenant) from None

    def _scope(self, tenant: str | None) -> list[_Tenant]:
        return list(self._tenants.values()) if tenant is None else [self._one(tenant)]

    def risk_book(self, tenant: str) -> RiskBook:
        return self._one(tenant).risk

    def position_book(self, tenant: str) -> PositionBook:
        return self._one(tenant).positions

    # -- the trading shell's side -----------------------------------------------------------------
    def may_trade(self, tenant: str, pair: str) -> bool:
        """Whether a new saga may start; the risk check still applies on top."""
        t = self._one(tenant)
        return t.ops.refusal(pair) is None and t.risk.killed is None

    def publish_opportunity(self, tenant: str, opp: Opportunity) -> None:
        if self.metrics is not None:
            self.metrics.opportunity(tenant, opp.pair)
        self.opportunity_feed.publish(OpportunitySeen(tenant, opp))

    def saga_event(self, tenant: str, saga_id: str, pair: str, kind: str, state: str,
                   detail: str = "", terminal: bool = False) -> None:
        t = self._one(tenant)
        if terminal:
            t.sagas.pop(saga_id, None)
        else:
            t.sagas[saga_id] = pair
        self.saga_feed.publish(SagaUpdate(tenant, saga_id, pair, kind, state, detail, self._clock()))

    def saga_progress(self, tenant: str, saga: Saga, event: Event) -> None:
        """Publish a core saga event (what the executor journals) to the saga stream."""
        detail = ""
        if isinstance(event, Finished):
            detail = f"{event.ending.value}: {event.reason}"
        elif isinstance(event, Intent):
            detail = f"{event.step} {event.action} {event.venue} {event.market}"
        elif isinstance(event, OrderFinal):
            detail = f"{event.step} {event.status} filled {event.filled}"
        if isinstance(event, Finished) and self.metrics is not None:
            self.metrics.saga_finished(tenant, saga.plan.pair, event.ending.value)
        if isinstance(event, Finished) and event.ending is Ending.FAILED:
            self.raise_alert(tenant, "hedge_failed",
                             f"saga {saga.saga_id} on {saga.plan.pair}: {event.reason}")
        self.saga_event(tenant, saga.saga_id, saga.plan.pair, event.kind, saga.state.value, detail,
                        terminal=saga.terminal)

    def order_update(self, order: OrderView) -> None:
        t = self._one(order.tenant)
        if order.status in ("filled", "cancelled", "rejected", "expired"):
            t.orders.pop(order.order_id, None)
        else:
            t.orders[order.order_id] = order

    def raise_alert(self, tenant: str, kind: str, detail: str) -> Alert:
        alert = Alert(tenant, kind, detail, self._clock())
        self._alerts.append(alert)
        self.alert_feed.publish(alert)
        return alert

    # -- EngineControl ----------------------------------------------------------------------------
    async def status(self, tenant: str | None) -> EngineStatus:
        rows = tuple(
            TenantStatus(t.name, t.ops.running, t.ops.paused_all,
                         tuple(sorted(t.ops.paused_pairs | t.ops.stopped_pairs)),
                         t.risk.killed, len(t.sagas), len(t.orders), t.risk.daily_pnl)
            for t in self._scope(tenant)
        )
        return EngineStatus(self.name, self._clock(), rows, self._pairs)

    def _check_pair(self, pair: str | None) -> None:
        if pair is not None and self._pairs and pair not in self._pairs:
            raise UnknownTenant(f"pair {pair}")

    def _apply(self, action: str, tenant: str | None, pair: str | None) -> bool:
        self._check_pair(pair)
        changed = False
        for t in self._scope(tenant):
            changed |= t.ops.apply(action, pair)
        return changed

    async def start(self, tenant: str | None, pair: str | None) -> ActionResult:
        return ActionResult(self._apply("start", tenant, pair), f"started {pair or 'all pairs'}")

    async def stop(self, tenant: str | None, pair: str | None) -> ActionResult:
        return ActionResult(self._apply("stop", tenant, pair),
                            f"stopped {pair or 'all pairs'}; open sagas finish")

    async def pause(self, tenant: str | None, pair: str | None) -> ActionResult:
        return ActionResult(self._apply("pause", tenant, pair), f"paused {pair or 'all pairs'}")

    async def resume(self, tenant: str | None, pair: str | None) -> ActionResult:
        return ActionResult(self._apply("resume", tenant, pair), f"resumed {pair or 'all pairs'}")

    async def trip_kill_switch(self, tenant: str | None, reason: str) -> ActionResult:
        changed = False
        now = self._clock()
        for t in self._scope(tenant):
            if t.risk.killed is None:
                if t.hooks.kill is not None:
                    await t.hooks.kill(reason)
                else:
                    t.risk.trip(reason, now)
                self.raise_alert(t.name, "kill_switch", f"tripped: {reason}")
                changed = True
        return ActionResult(changed, f"kill switch on: {reason}")

    async def reset_kill_switch(self, tenant: str) -> ActionResult:
        t = self._one(tenant)
        was = t.risk.killed
        if t.hooks.reset is not None:
            t.hooks.reset()
        else:
            t.risk.reset(self._clock())
        if was is not None:
            self.raise_alert(tenant, "kill_switch", f"reset (was: {was})")
        return ActionResult(was is not None, "kill switch off")

    async def orders(self, tenant: str | None) -> list[OrderView]:
        return [o for t in self._scope(tenant) for o in t.orders.values()]

    async def cancel_order(self, tenant: str, order_id: str) -> ActionResult:
        t = self._one(tenant)
        order = t.orders.get(order_id)
        if order is None:
            return ActionResult(False, f"no open order {order_id}")
        if self._canceller is not None and not await self._canceller(order):
            return ActionResult(False, f"venue refused to cancel {order_id}")
        t.orders[order_id] = replace(order, status="cancel_requested")
        return ActionResult(True, f"cancel requested for {order_id}")

    async def positions(self, tenant: str | None) -> list[tuple[str, Position]]:
        return [(t.name, p) for t in self._scope(tenant) for p in t.positions.open_positions()]

    async def pnl(self, tenant: str | None) -> list[TenantPnL]:
        return [TenantPnL(t.name, t.positions.pnl(), t.risk.daily_pnl) for t in self._scope(tenant)]

    async def risk_limits(self, tenant: str) -> RiskLimits:
        return self._one(tenant).risk.limits

    async def set_risk_limits(self, tenant: str, limits: RiskLimits) -> RiskLimits:
        t = self._one(tenant)
        t.risk.limits = limits
        self.raise_alert(tenant, "limits", "risk limits changed")
        return limits

    async def alerts(self, tenant: str | None) -> list[Alert]:
        if tenant is not None:
            self._one(tenant)
        return [a for a in self._alerts if tenant is None or a.tenant == tenant]

    def opportunities(self, tenant: str | None) -> AsyncIterator[OpportunitySeen]:
        return self.opportunity_feed.subscribe(lambda o: tenant is None or o.tenant == tenant)

    def sagas(self, tenant: str | None) -> AsyncIterator[SagaUpdate]:
        return self.saga_feed.subscribe(lambda s: tenant is None or s.tenant == tenant)
