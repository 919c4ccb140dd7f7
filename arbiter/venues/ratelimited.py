"""An :class:`ExchangeClient` that asks the deployment's rate limiter before every venue request.

A venue that throttles us throttles the whole key (Kalshi) or the whole IP (Polymarket), i.e.
every tenant sharing it, and a 429 costs a round trip plus a back-off. Refusing locally costs
nothing and keeps one tenant from spending the others' budget. A refused request is never sent:
the wrapper raises the venue's own :class:`RateLimitedError` (with ``retry_after`` from the
limiter), which the executor already treats as "outcome unknown" and resolves by a lookup that
finds nothing, so a refused order ends as absent and no order is ever resent blindly.
A 429 that the venue sends anyway is reported back to the limiter (``throttled``) so the
budget drains and backs off for every tenant on that key or IP.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from arbiter.core.ratelimit import Action, RateLimiter
from arbiter.core.units import Money
from arbiter.venues.base import (
    ExchangeClient,
    FillReport,
    OrderAck,
    OrderRequest,
    PositionReport,
    RateLimitedError,
)

__all__ = ["RateLimitedClient"]

T = TypeVar("T")


class RateLimitedClient:
    """Wraps ``inner`` for one tenant; ``clock`` returns ns (injected so tests are exact)."""

    def __init__(
        self,
        inner: ExchangeClient,
        limiter: RateLimiter,
        tenant_id: str,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.tenant_id = tenant_id
        self.clock = clock

    @property
    def venue(self) -> str:
        return self.inner.venue

    async def _call(self, action: Action, request: Callable[[], Awaitable[T]]) -> T:
        venue = self.inner.venue
        rejection = self.limiter.check(self.clock(), self.tenant_id, venue, action)
        if rejection is not None:
            raise RateLimitedError(
                "local_rate_limit",
                f"{venue} {action.value} refused locally for {self.tenant_id}: {rejection.key} "
                f"({rejection.scope}) empty",
                status=None,
                retry_after=rejection.retry_after_s,
            )
        try:
            return await request()
        except RateLimitedError:
            self.limiter.throttled(self.clock(), self.tenant_id, venue, action)
            raise

    async def place_order(self, request: OrderRequest) -> OrderAck:
        return await self._call(Action.PLACE, lambda: self.inner.place_order(request))

    async def cancel_order(self, order_id: str) -> OrderAck:
        return await self._call(Action.CANCEL, lambda: self.inner.cancel_order(order_id))

    async def get_order(
        self, order_id: str | None = None, *, client_order_id: str | None = None
    ) -> OrderAck:
        return await self._call(
            Action.READ, lambda: self.inner.get_order(order_id, client_order_id=client_order_id)
        )

    async def open_orders(self, market: str | None = None) -> list[OrderAck]:
        return await self._call(Action.READ, lambda: self.inner.open_orders(market))

    async def fills(self, since_ms: int | None = None) -> list[FillReport]:
        return await self._call(Action.READ, lambda: self.inner.fills(since_ms))

    async def positions(self) -> list[PositionReport]:
        return await self._call(Action.READ, self.inner.positions)

    async def balance(self) -> Money:
        return await self._call(Action.READ, self.inner.balance)

    async def close(self) -> None:
        await self.inner.close()
