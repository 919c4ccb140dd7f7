"""The control plane's :class:`EngineControl` over the live Ray engine (issue 10).

The gRPC service and the Telegram bot only know :class:`EngineControl`; this adapter forwards
each call to the ``arbiter`` actor, which owns the tick path, the tenants' risk books and their
venue clients (ADR 0060), so a kill switch set here is the very book the next saga consults.
Operator switches (pause/stop) are checked by the actor before each saga launch.

The actor has no push channel to the control plane, so the two streams poll
:meth:`~arbiter.engine.arbiter.Arbiter.events_since`: they carry sagas the tick path *launched*
and sagas that *ended*, not every detected opportunity (the Prometheus counters have those).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from arbiter.control.engine import (
    ActionResult,
    Alert,
    EngineStatus,
    OpportunitySeen,
    OrderView,
    SagaUpdate,
    TenantPnL,
    TenantStatus,
    UnknownTenant,
)
from arbiter.core.positions import Position
from arbiter.core.risk import RiskLimits

__all__ = ["RayEngineControl"]

T = TypeVar("T")


class RayEngineControl:
    """:class:`EngineControl` by forwarding to the engine's ``arbiter`` actor."""

    name = "ray"

    def __init__(self, arbiter: Any, tenants: list[str], pairs: list[str], poll_s: float = 0.5,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.arbiter = arbiter
        self._tenants = list(tenants)
        self._pairs = tuple(pairs)
        self.poll_s = poll_s
        self._clock = clock_ns

    @classmethod
    async def connect(cls, namespace: str, poll_s: float = 0.5) -> RayEngineControl:
        """Find the running engine's arbiter in ``namespace`` (``ray.init`` must have run)."""
        import ray

        from arbiter.engine.actors import actor_name
        from arbiter.engine.placement import Role

        arbiter = ray.get_actor(actor_name(Role.ARBITER), namespace=namespace)
        described = await arbiter.describe.remote()
        return cls(arbiter, described["tenants"], described["pairs"], poll_s)

    # -- helpers ----------------------------------------------------------------------------------
    def _check(self, tenant: str | None) -> None:
        if tenant is not None and tenant not in self._tenants:
            raise UnknownTenant(tenant)

    def _check_pair(self, pair: str | None) -> None:
        if pair is not None and pair not in self._pairs:
            raise UnknownTenant(f"pair {pair}")

    async def _call(self, ref: Awaitable[T]) -> T:
        try:
            return await ref
        except KeyError as exc:  # Ray re-raises the actor's KeyError as a subclass of it
            raise UnknownTenant(str(exc.args[0]) if exc.args else "") from None

    # -- tenants while running (ADR 0148) ---------------------------------------------------------
    async def add_tenant(self, tenant: Any) -> dict[str, Any]:
        """Start trading for ``tenant`` (a reference-only ``TenantConfig``) in the running
        engine; all or nothing: the actor's error (credentials, tier caps) is raised here."""
        out: dict[str, Any] = await self.arbiter.add_tenant.remote(tenant)
        if tenant.name not in self._tenants:
            self._tenants.append(tenant.name)
        return out

    async def remove_tenant(self, tenant: str) -> dict[str, Any]:
        """Stop trading for ``tenant``: its sagas finish, its open orders are cancelled."""
        self._check(tenant)
        out: dict[str, Any] = await self._call(self.arbiter.remove_tenant.remote(tenant))
        self._tenants.remove(tenant)
        return out

    async def set_tier(self, tenant: str, tier: str) -> dict[str, Any]:
        self._check(tenant)
        out: dict[str, Any] = await self._call(self.arbiter.set_tier.remote(tenant, tier))
        return out

    # -- EngineControl ----------------------------------------------------------------------------
    def tenants(self) -> list[str]:
        return list(self._tenants)

    async def status(self, tenant: str | None) -> EngineStatus:
        self._check(tenant)
        rows = await self._call(self.arbiter.control_status.remote(tenant))
        return EngineStatus(self.name, self._clock(), tuple(
            TenantStatus(r["tenant"], r["running"], r["paused_all"], tuple(r["paused_pairs"]),
                         r["killed"], r["open_sagas"], r["open_orders"], r["daily_pnl"])
            for r in rows), self._pairs)

    async def _switch(self, action: str, tenant: str | None, pair: str | None) -> ActionResult:
        self._check(tenant)
        self._check_pair(pair)
        changed, detail = await self._call(self.arbiter.control.remote(action, tenant, pair))
        return ActionResult(changed, detail)

    async def start(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._switch("start", tenant, pair)

    async def stop(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._switch("stop", tenant, pair)

    async def pause(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._switch("pause", tenant, pair)

    async def resume(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._switch("resume", tenant, pair)

    async def trip_kill_switch(self, tenant: str | None, reason: str) -> ActionResult:
        self._check(tenant)
        changed = await self._call(self.arbiter.trip.remote(tenant, reason))
        return ActionResult(changed, f"kill switch on: {reason}")

    async def reset_kill_switch(self, tenant: str) -> ActionResult:
        self._check(tenant)
        changed = await self._call(self.arbiter.reset.remote(tenant))
        return ActionResult(changed, "kill switch off")

    async def _open(self, tenant: str | None) -> list[tuple[str, Any]]:
        self._check(tenant)
        rows: list[tuple[str, Any]] = await self._call(self.arbiter.open_orders.remote(tenant))
        return rows

    async def orders(self, tenant: str | None) -> list[OrderView]:
        return [OrderView(o.order_id, name, (o.client_order_id or "").rsplit("-", 1)[0], o.venue,
                          o.market, str(o.outcome), str(o.action), o.price, o.size, o.filled,
                          str(o.status), (o.ts_ms or 0) * 1_000_000)
                for name, o in await self._open(tenant)]

    async def cancel_order(self, tenant: str, order_id: str) -> ActionResult:
        venue = next((o.venue for _, o in await self._open(tenant) if o.order_id == order_id), None)
        if venue is None:
            return ActionResult(False, f"no open order {order_id}")
        if not await self._call(self.arbiter.cancel_order.remote(tenant, venue, order_id)):
            return ActionResult(False, f"venue refused to cancel {order_id}")
        return ActionResult(True, f"cancel requested for {order_id}")

    async def positions(self, tenant: str | None) -> list[tuple[str, Position]]:
        self._check(tenant)
        rows: list[tuple[str, Position]] = await self._call(self.arbiter.positions.remote(tenant))
        return rows

    async def pnl(self, tenant: str | None) -> list[TenantPnL]:
        self._check(tenant)
        return [TenantPnL(name, pnl, daily)
                for name, pnl, daily in await self._call(self.arbiter.pnl.remote(tenant))]

    async def risk_limits(self, tenant: str) -> RiskLimits:
        self._check(tenant)
        limits: RiskLimits = await self._call(self.arbiter.limits.remote(tenant))
        return limits

    async def set_risk_limits(self, tenant: str, limits: RiskLimits) -> RiskLimits:
        self._check(tenant)
        result: RiskLimits = await self._call(self.arbiter.set_limits.remote(tenant, limits))
        return result

    async def alerts(self, tenant: str | None) -> list[Alert]:
        self._check(tenant)
        return [Alert(a["tenant"], a["kind"], a["detail"], a["ts_ns"])
                for a in await self._call(self.arbiter.alerts.remote(tenant))]

    async def _poll(self, key: str) -> AsyncIterator[tuple[str, Any]]:
        seq = int((await self.arbiter.events_since.remote(1 << 62))["seq"])
        while True:
            batch = await self.arbiter.events_since.remote(seq)
            for _, tenant, item in batch[key]:
                yield tenant, item
            # an actor restart starts counting again from 0: follow it rather than go deaf
            seq = int(batch["seq"])
            await asyncio.sleep(self.poll_s)

    async def _opportunities(self, tenant: str | None) -> AsyncIterator[OpportunitySeen]:
        async for name, opp in self._poll("launches"):
            if tenant is None or name == tenant:
                yield OpportunitySeen(name, opp)

    async def _sagas(self, tenant: str | None) -> AsyncIterator[SagaUpdate]:
        async for name, s in self._poll("sagas"):
            if tenant is None or name == tenant:
                yield SagaUpdate(name, s["saga"], s["pair"], "finished", s["outcome"],
                                 f"pnl {s['pnl']}", s["ts_ns"])

    def opportunities(self, tenant: str | None) -> AsyncIterator[OpportunitySeen]:
        self._check(tenant)
        return self._opportunities(tenant)

    def sagas(self, tenant: str | None) -> AsyncIterator[SagaUpdate]:
        self._check(tenant)
        return self._sagas(tenant)
