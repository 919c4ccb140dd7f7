""":class:`EngineControl` over the gRPC control API, so remote tools (the Telegram bot, the CLI)
use the same interface as in-process callers.

Every call carries the client's bearer token; the server, not this client, decides what the token
may see. Values come back as the API's exact decimal strings and are parsed into core units here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc

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
from arbiter.control.service import limits_from_pb, limits_to_pb, pb
from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.positions import PnL, Position
from arbiter.core.risk import RiskLimits
from arbiter.core.units import parse_money, parse_price, parse_size

__all__ = ["ControlError", "RemoteEngine"]


class ControlError(RuntimeError):
    """The server refused a call (auth, permission, bad value); ``code`` is the gRPC status name."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class RemoteEngine:
    name = "remote"

    def __init__(self, target: str, token: str, credentials: grpc.ChannelCredentials | None = None,
                 timeout_s: float = 10.0) -> None:
        self._channel = (grpc.aio.secure_channel(target, credentials) if credentials is not None
                         else grpc.aio.insecure_channel(target))
        self._pb, pb_grpc = pb()
        self._stub = pb_grpc.ControlServiceStub(self._channel)
        self._md = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout_s
        self._tenants: list[str] = []

    async def close(self) -> None:
        await self._channel.close()

    @staticmethod
    def _error(exc: grpc.aio.AioRpcError) -> Exception:
        if exc.code() is grpc.StatusCode.NOT_FOUND:
            return UnknownTenant((exc.details() or "").removeprefix("unknown "))
        return ControlError(exc.code().name, exc.details() or "")

    async def _call(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub, method)(request, metadata=self._md, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise self._error(exc) from None

    def tenants(self) -> list[str]:
        return list(self._tenants)

    async def status(self, tenant: str | None) -> EngineStatus:
        r = await self._call("GetStatus", self._pb.StatusRequest(tenant=tenant or ""))
        rows = tuple(TenantStatus(t.tenant, t.running, t.paused_all, tuple(t.paused_pairs),
                                  t.kill_reason if t.kill_switch else None, t.open_sagas, t.open_orders,
                                  parse_money(t.daily_pnl)) for t in r.tenants)
        self._tenants = [t.tenant for t in rows]
        return EngineStatus(r.engine, r.now_ns, rows, tuple(r.pairs))

    async def _scoped(self, method: str, tenant: str | None, pair: str | None) -> ActionResult:
        r = await self._call(method, self._pb.Scope(tenant=tenant or "", pair=pair or ""))
        return ActionResult(r.changed, r.detail)

    async def start(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._scoped("Start", tenant, pair)

    async def stop(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._scoped("Stop", tenant, pair)

    async def pause(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._scoped("Pause", tenant, pair)

    async def resume(self, tenant: str | None, pair: str | None) -> ActionResult:
        return await self._scoped("Resume", tenant, pair)

    async def trip_kill_switch(self, tenant: str | None, reason: str) -> ActionResult:
        r = await self._call("TripKillSwitch", self._pb.KillRequest(tenant=tenant or "", reason=reason))
        return ActionResult(r.changed, r.detail)

    async def reset_kill_switch(self, tenant: str) -> ActionResult:
        r = await self._call("ResetKillSwitch", self._pb.ResetKillRequest(tenant=tenant))
        return ActionResult(r.changed, r.detail)

    async def orders(self, tenant: str | None) -> list[OrderView]:
        r = await self._call("ListOrders", self._pb.ListOrdersRequest(tenant=tenant or ""))
        return [OrderView(o.order_id, o.tenant, o.saga_id, o.venue, o.market, o.outcome, o.action,
                          parse_price(o.price), parse_size(o.size), parse_size(o.filled), o.status,
                          o.created_ns)
                for o in r.orders]

    async def cancel_order(self, tenant: str, order_id: str) -> ActionResult:
        r = await self._call("CancelOrder", self._pb.CancelOrderRequest(tenant=tenant, order_id=order_id))
        return ActionResult(r.changed, r.detail)

    async def positions(self, tenant: str | None) -> list[tuple[str, Position]]:
        r = await self._call("GetPositions", self._pb.PositionsRequest(tenant=tenant or ""))
        return [(p.tenant, Position(p.venue, p.market, Outcome(p.outcome), parse_size(p.size),
                                    parse_money(p.basis), parse_money(p.realised), parse_money(p.fees)))
                for p in r.positions]

    async def pnl(self, tenant: str | None) -> list[TenantPnL]:
        r = await self._call("GetPnl", self._pb.PnlRequest(tenant=tenant or ""))
        return [TenantPnL(p.tenant,
                          PnL(parse_money(p.realised), parse_money(p.unrealised), parse_money(p.fees)),
                          parse_money(p.daily)) for p in r.pnl]

    async def risk_limits(self, tenant: str) -> RiskLimits:
        r = await self._call("GetRiskLimits", self._pb.GetRiskLimitsRequest(tenant=tenant))
        return limits_from_pb(r.limits, RiskLimits())

    async def set_risk_limits(self, tenant: str, limits: RiskLimits) -> RiskLimits:
        r = await self._call("SetRiskLimits", self._pb.SetRiskLimitsRequest(
            tenant=tenant, limits=limits_to_pb(self._pb, limits)))
        return replace(limits_from_pb(r.limits, limits))

    async def alerts(self, tenant: str | None) -> list[Alert]:
        r = await self._call("GetAlerts", self._pb.AlertsRequest(tenant=tenant or ""))
        return [Alert(a.tenant, a.kind, a.detail, a.ts_ns) for a in r.alerts]

    async def opportunities(self, tenant: str | None) -> AsyncIterator[OpportunitySeen]:
        call = self._stub.StreamOpportunities(self._pb.StreamRequest(tenant=tenant or ""), metadata=self._md)
        try:
            async for e in call:
                a, b = (Leg(x.venue, x.market, Outcome(x.outcome), parse_price(x.limit_price),
                            parse_money(x.cost), parse_money(x.fee), x.book_ts_ns) for x in e.legs)
                yield OpportunitySeen(e.tenant, Opportunity(
                    e.pair, e.direction, parse_size(e.size), (a, b), parse_money(e.cost),
                    parse_money(e.fees), parse_money(e.profit), e.detected_ns))
        except grpc.aio.AioRpcError as exc:
            raise self._error(exc) from None
        finally:
            call.cancel()

    async def sagas(self, tenant: str | None) -> AsyncIterator[SagaUpdate]:
        call = self._stub.StreamSagas(self._pb.StreamRequest(tenant=tenant or ""), metadata=self._md)
        try:
            async for s in call:
                yield SagaUpdate(s.tenant, s.saga_id, s.pair, s.kind, s.state, s.detail, s.ts_ns)
        except grpc.aio.AioRpcError as exc:
            raise self._error(exc) from None
        finally:
            call.cancel()
