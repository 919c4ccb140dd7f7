"""An :class:`ExchangeClient` that asks the deployment's rate limiter before every venue request.

A venue that throttles us throttles the whole key (Kalshi) or the whole IP (Polymarket), i.e.
every tenant sharing it, and a 429 costs a round trip plus a back-off. Refusing locally costs
nothing and keeps one tenant from spending the others' budget. A refused request is never sent:
the wrapper raises :class:`LocalRateLimitError` (a :class:`RateLimitedError` with ``retry_after``
from the limiter). The executor records a refused order as rejected at once — nothing left the
process, so there is nothing to look up — and never resends it blindly.
A 429 that the venue sends anyway is reported back to the limiter (``throttled``) so the
budget drains and backs off for every tenant on that key or IP.
Both refusals are told to ``on_refused`` (the venue's name) when given: the engine counts them
(``arbiter_rate_limit_rejections_total``) without this layer knowing about metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from arbiter.core.ratelimit import Action, RateLimiter
from arbiter.core.units import Money
from arbiter.venues.base import (
    ExchangeClient,
    FillReport,
    LocalRateLimitError,
    OrderAck,
    OrderRequest,
    PositionReport,
    RateLimitedError,
    submit,
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
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.tenant_id = tenant_id
        self.clock = clock
        self.on_refused = on_refused

    @property
    def venue(self) -> str:
        return self.inner.venue

    def _admit(self, action: Action) -> None:
        """Spend a token now or raise the typed refusal (synchronous: no loop turn)."""
        venue = self.inner.venue
        rejection = self.limiter.check(self.clock(), self.tenant_id, venue, action)
        if rejection is not None:
            if self.on_refused is not None:
                self.on_refused(venue)
            raise LocalRateLimitError(
                "local_rate_limit",
                f"{venue} {action.value} refused locally for {self.tenant_id}: {rejection.key} "
                f"({rejection.scope}) empty",
                retry_after=rejection.retry_after_s,
            )

    async def _watch(self, action: Action, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except RateLimitedError as exc:
            if not isinstance(exc, LocalRateLimitError):  # the venue's own 429
                self.limiter.throttled(self.clock(), self.tenant_id, self.inner.venue, action)
                if self.on_refused is not None:
                    self.on_refused(self.inner.venue)
            raise

    async def _call(self, action: Action, request: Callable[[], Awaitable[T]]) -> T:
        self._admit(action)
        return await self._watch(action, request())

    def submit_order(self, request: OrderRequest) -> Awaitable[OrderAck]:
        """Admit and start the order now, so an order lane underneath writes it inline."""
        self._admit(Action.PLACE)
        return self._watch(Action.PLACE, submit(self.inner, request))

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

    # -- exchange shards (Kalshi; docs /getting_started/exchange_sharding) -----------------------
    def _inner(self, name: str) -> Callable[..., Awaitable[Any]]:
        call = getattr(self.inner, name, None)
        if call is None:
            raise AttributeError(f"the {self.inner.venue} client has no {name}")
        fn: Callable[..., Awaitable[Any]] = call
        return fn

    async def shard_balances(self) -> dict[int, Money]:
        """The venue's per-shard collateral (one ``GET /portfolio/balance``), like any read."""
        fn = self._inner("shard_balances")
        result: dict[int, Money] = await self._call(Action.READ, fn)
        return result

    async def check_order(self, request: OrderRequest) -> None:
        """The venue client's dry-run check of an order: a market-data read, admitted as one."""
        fn = self._inner("check_order")
        await self._call(Action.READ, lambda: fn(request))

    async def shard_of(self, ticker: str) -> int:
        """The shard ``ticker`` lives on. A shard the client already knows (from a market it
        read) costs nothing; learning one is a ``GET /markets/{ticker}`` and is admitted as a
        read, so the risk manager's refresh cannot spend the key's budget behind our back."""
        known = getattr(self.inner, "known_shard", None)
        if known is not None:
            shard = known(ticker)
            if shard is not None:
                return int(shard)
        fn = self._inner("shard_of")
        result: int = await self._call(Action.READ, lambda: fn(ticker))
        return result

    async def close(self) -> None:
        await self.inner.close()
