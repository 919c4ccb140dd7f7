"""The gRPC ``ControlService``: authenticate, scope to a tenant, call :class:`EngineControl`.

Each RPC is a thin shell: read the bearer token, decide which tenant(s) the call may touch,
translate protobuf strings to core units (no floats on the wire either), call the engine, and
translate back. Authorisation rules, in one place (:meth:`ControlServicer._scope`):

* a token names one tenant; an empty ``tenant`` field means that tenant, another tenant is
  ``PERMISSION_DENIED`` (never ``NOT_FOUND``, so a tenant cannot probe for other tenants);
* ``viewer`` reads, ``operator`` also acts on its tenant, ``admin`` sees and acts on every tenant
  and is the only role that may act on all of them at once or change risk limits.

Health (``grpc.health.v1``) and reflection are served unauthenticated, as load balancers and
``grpcurl`` expect.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from arbiter.control import codegen
from arbiter.control.auth import AuthError, KeySet, Principal
from arbiter.control.engine import EngineControl, UnknownTenant
from arbiter.core.risk import RiskLimits
from arbiter.core.units import MONEY_DECIMALS, PRICE_DECIMALS, SIZE_DECIMALS, format_decimal

__all__ = ["SERVICE_NAME", "ControlServer", "ControlServicer", "build_server", "pb"]

SERVICE_NAME = "arbiter.control.v1.ControlService"
#: grpc.aio.ServicerContext (grpcio ships no type information)
Ctx = Any


def pb() -> tuple[ModuleType, ModuleType]:
    """The generated ``(control_pb2, control_pb2_grpc)`` modules (built on first use)."""
    return codegen.load()


_FIXED = re.compile(r"^(\d+)(?:\.(\d+))?$")


class BadValue(ValueError):
    pass


def _parse(text: str, decimals: int, what: str) -> int | None:
    """A non-negative decimal string in a fixed unit; empty means "no limit"."""
    text = text.strip()
    if not text:
        return None
    m = _FIXED.match(text)
    if m is None or len(m.group(2) or "") > decimals:
        raise BadValue(f"{what}: {text!r} is not a non-negative decimal with <= {decimals} places")
    frac = (m.group(2) or "").ljust(decimals, "0")
    scale: int = 10**decimals
    return int(m.group(1)) * scale + (int(frac) if frac else 0)


def _fmt(value: int | None, decimals: int) -> str:
    return "" if value is None else format_decimal(value, decimals)


def money(value: int) -> str:
    return format_decimal(value, MONEY_DECIMALS)


def limits_to_pb(p: ModuleType, lim: RiskLimits) -> Any:
    return p.RiskLimits(
        max_pair_contracts=_fmt(lim.max_pair_contracts, SIZE_DECIMALS),
        max_venue_exposure=_fmt(lim.max_venue_exposure, MONEY_DECIMALS),
        max_gross_exposure=_fmt(lim.max_gross_exposure, MONEY_DECIMALS),
        max_open_sagas=lim.max_open_sagas,
        max_daily_loss=_fmt(lim.max_daily_loss, MONEY_DECIMALS),
        min_edge=_fmt(lim.min_edge, PRICE_DECIMALS),
        min_profit=_fmt(lim.min_profit, MONEY_DECIMALS),
        max_hedge_failures=lim.max_hedge_failures,
    )


def limits_from_pb(msg: Any, base: RiskLimits) -> RiskLimits:
    """Fields the message sets replace ``base``'s; pair overrides and reserves are kept."""
    return replace(
        base,
        max_pair_contracts=_parse(msg.max_pair_contracts, SIZE_DECIMALS, "max_pair_contracts"),
        max_venue_exposure=_parse(msg.max_venue_exposure, MONEY_DECIMALS, "max_venue_exposure"),
        max_gross_exposure=_parse(msg.max_gross_exposure, MONEY_DECIMALS, "max_gross_exposure"),
        max_open_sagas=msg.max_open_sagas or base.max_open_sagas,
        max_daily_loss=_parse(msg.max_daily_loss, MONEY_DECIMALS, "max_daily_loss"),
        min_edge=_parse(msg.min_edge, PRICE_DECIMALS, "min_edge") or 0,
        min_profit=_parse(msg.min_profit, MONEY_DECIMALS, "min_profit") or 0,
        max_hedge_failures=msg.max_hedge_failures or base.max_hedge_failures,
    )


class _Denied(Exception):
    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ControlServicer:
    """Implements every RPC of ``ControlService`` (registered through the generated adder)."""

    def __init__(self, engine: EngineControl, keys: KeySet, clock_s: Callable[[], int] | None = None) -> None:
        self.engine = engine
        self.keys = keys
        self._clock_s = clock_s
        self._pb, _ = pb()

    # -- auth -----------------------------------------------------------------------------------
    def _principal(self, context: Ctx) -> Principal:
        token = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
                token = value[7:].strip()
        if not token:
            raise _Denied(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
        try:
            now = self._clock_s() if self._clock_s is not None else None
            return self.keys.verify(token, now)
        except AuthError as exc:
            raise _Denied(grpc.StatusCode.UNAUTHENTICATED, str(exc)) from None

    @staticmethod
    def _scope(who: Principal, requested: str, act: bool = False, allow_all: bool = True) -> str | None:
        if act and not who.can_operate():
            raise _Denied(grpc.StatusCode.PERMISSION_DENIED, f"role {who.role} cannot act")
        if requested:
            if not who.may_see(requested):
                raise _Denied(grpc.StatusCode.PERMISSION_DENIED, f"token is not valid for tenant {requested}")
            return requested
        if who.is_admin:
            if not allow_all:
                raise _Denied(grpc.StatusCode.INVALID_ARGUMENT, "name a tenant")
            return None
        return who.tenant

    async def _run(self, context: Ctx, fn: Callable[[Principal], Any]) -> Any:
        try:
            return await fn(self._principal(context))
        except _Denied as exc:
            await context.abort(exc.code, exc.detail)
        except UnknownTenant as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown {exc.args[0]}")
        except BadValue as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def _action(self, r: Any) -> Any:
        return self._pb.ActionResponse(changed=r.changed, detail=r.detail)

    # -- unary RPCs -----------------------------------------------------------------------------
    async def GetStatus(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            st = await self.engine.status(self._scope(who, request.tenant))
            return self._pb.StatusResponse(engine=st.engine, now_ns=st.now_ns, pairs=list(st.pairs), tenants=[
                self._pb.TenantStatus(
                    tenant=t.tenant, running=t.running, paused_pairs=list(t.paused_pairs),
                    paused_all=t.paused_all, kill_switch=t.kill_reason is not None,
                    kill_reason=t.kill_reason or "", open_sagas=t.open_sagas, open_orders=t.open_orders,
                    daily_pnl=money(t.daily_pnl))
                for t in st.tenants
            ])
        return await self._run(context, go)

    def _scoped_action(self, name: str) -> Callable[[Any, Ctx], Any]:
        async def rpc(request: Any, context: Ctx) -> Any:
            async def go(who: Principal) -> Any:
                tenant = self._scope(who, request.tenant, act=True)
                result = await getattr(self.engine, name)(tenant, request.pair or None)
                return self._action(result)
            return await self._run(context, go)
        return rpc

    async def Start(self, request: Any, context: Ctx) -> Any:
        return await self._scoped_action("start")(request, context)

    async def Stop(self, request: Any, context: Ctx) -> Any:
        return await self._scoped_action("stop")(request, context)

    async def Pause(self, request: Any, context: Ctx) -> Any:
        return await self._scoped_action("pause")(request, context)

    async def Resume(self, request: Any, context: Ctx) -> Any:
        return await self._scoped_action("resume")(request, context)

    async def TripKillSwitch(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            tenant = self._scope(who, request.tenant, act=True)
            reason = request.reason or f"manual ({who.subject})"
            return self._action(await self.engine.trip_kill_switch(tenant, reason))
        return await self._run(context, go)

    async def ResetKillSwitch(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            tenant = self._scope(who, request.tenant, act=True, allow_all=False)
            assert tenant is not None
            return self._action(await self.engine.reset_kill_switch(tenant))
        return await self._run(context, go)

    async def ListOrders(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            orders = await self.engine.orders(self._scope(who, request.tenant))
            return self._pb.ListOrdersResponse(orders=[
                self._pb.Order(
                    order_id=o.order_id, tenant=o.tenant, saga_id=o.saga_id, venue=o.venue, market=o.market,
                    outcome=o.outcome, action=o.action, price=format_decimal(o.price, PRICE_DECIMALS),
                    size=format_decimal(o.size, SIZE_DECIMALS),
                    filled=format_decimal(o.filled, SIZE_DECIMALS), status=o.status, created_ns=o.created_ns)
                for o in orders
            ])
        return await self._run(context, go)

    async def CancelOrder(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            tenant = self._scope(who, request.tenant, act=True, allow_all=False)
            assert tenant is not None
            return self._action(await self.engine.cancel_order(tenant, request.order_id))
        return await self._run(context, go)

    async def GetPositions(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            rows = await self.engine.positions(self._scope(who, request.tenant))
            return self._pb.PositionsResponse(positions=[
                self._pb.Position(
                    tenant=tenant, venue=p.venue, market=p.market, outcome=p.outcome.value,
                    size=format_decimal(p.size, SIZE_DECIMALS), basis=money(p.basis),
                    realised=money(p.realised), fees=money(p.fees))
                for tenant, p in rows
            ])
        return await self._run(context, go)

    async def GetPnl(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            rows = await self.engine.pnl(self._scope(who, request.tenant))
            return self._pb.PnlResponse(pnl=[
                self._pb.Pnl(tenant=r.tenant, realised=money(r.pnl.realised),
                             unrealised=money(r.pnl.unrealised), fees=money(r.pnl.fees),
                             net=money(r.pnl.net), daily=money(r.daily))
                for r in rows
            ])
        return await self._run(context, go)

    async def GetRiskLimits(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            tenant = self._scope(who, request.tenant, allow_all=False)
            assert tenant is not None
            lim = await self.engine.risk_limits(tenant)
            return self._pb.RiskLimitsResponse(tenant=tenant, limits=limits_to_pb(self._pb, lim))
        return await self._run(context, go)

    async def SetRiskLimits(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            if not who.is_admin:
                raise _Denied(grpc.StatusCode.PERMISSION_DENIED, "only admin may change risk limits")
            tenant = self._scope(who, request.tenant, act=True, allow_all=False)
            assert tenant is not None
            current = await self.engine.risk_limits(tenant)
            lim = await self.engine.set_risk_limits(tenant, limits_from_pb(request.limits, current))
            return self._pb.RiskLimitsResponse(tenant=tenant, limits=limits_to_pb(self._pb, lim))
        return await self._run(context, go)

    async def GetAlerts(self, request: Any, context: Ctx) -> Any:
        async def go(who: Principal) -> Any:
            alerts = await self.engine.alerts(self._scope(who, request.tenant))
            return self._pb.AlertsResponse(alerts=[
                self._pb.Alert(tenant=a.tenant, kind=a.kind, detail=a.detail, ts_ns=a.ts_ns) for a in alerts
            ])
        return await self._run(context, go)

    # -- streams --------------------------------------------------------------------------------
    async def _authorised_scope(self, request: Any, context: Ctx) -> str | None:
        try:
            tenant = self._scope(self._principal(context), request.tenant)
        except _Denied as exc:
            await context.abort(exc.code, exc.detail)
            raise AssertionError("unreachable") from None
        if tenant is not None and tenant not in self.engine.tenants():
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown {tenant}")
        return tenant

    async def StreamOpportunities(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        tenant = await self._authorised_scope(request, context)
        sent = 0
        stream = self.engine.opportunities(tenant)
        try:
            async for seen in stream:
                o = seen.opportunity
                yield self._pb.OpportunityEvent(
                    tenant=seen.tenant, pair=o.pair, direction=o.direction,
                    size=format_decimal(o.size, SIZE_DECIMALS), cost=money(o.cost), fees=money(o.fees),
                    profit=money(o.profit), detected_ns=o.detected_ns, legs=[
                        self._pb.OpportunityLeg(
                            venue=leg.venue, market=leg.market, outcome=leg.outcome.value,
                            limit_price=format_decimal(leg.limit_price, PRICE_DECIMALS), cost=money(leg.cost),
                            fee=money(leg.fee), book_ts_ns=leg.book_ts_ns)
                        for leg in o.legs
                    ])
                sent += 1
                if request.max_events and sent >= request.max_events:
                    return
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def StreamSagas(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        tenant = await self._authorised_scope(request, context)
        sent = 0
        stream = self.engine.sagas(tenant)
        try:
            async for s in stream:
                yield self._pb.SagaEvent(tenant=s.tenant, saga_id=s.saga_id, pair=s.pair, kind=s.kind,
                                         state=s.state, detail=s.detail, ts_ns=s.ts_ns)
                sent += 1
                if request.max_events and sent >= request.max_events:
                    return
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


@dataclass(slots=True)
class ControlServer:
    server: grpc.aio.Server
    port: int
    health: Any
    servicer: ControlServicer

    async def stop(self, grace: float = 0.5) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def build_server(engine: EngineControl, keys: KeySet, address: str = "127.0.0.1:0",
                       clock_s: Callable[[], int] | None = None,
                       credentials: grpc.ServerCredentials | None = None) -> ControlServer:
    """Create and start the aio server with control, health and reflection services."""
    _, pb_grpc = pb()
    server = grpc.aio.server()
    servicer = ControlServicer(engine, keys, clock_s)
    pb_grpc.add_ControlServiceServicer_to_server(servicer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    port = (server.add_secure_port(address, credentials) if credentials is not None
            else server.add_insecure_port(address))
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    await health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    return ControlServer(server, port, health, servicer)
