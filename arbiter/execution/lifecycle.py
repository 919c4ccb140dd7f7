"""Market lifecycle in the running engine: stop, cancel, settle.

The Kalshi feed reports each market's phase (REST ``status`` at start, ``market_lifecycle_v2``
after; :mod:`arbiter.core.lifecycle`). This guard turns that into the engine's actions:

* a market that is not ``active`` (paused, closed, determined, settled, regridded) or whose
  lifecycle we do not understand stops trading at once: the detector halts its pair, on the
  feed callback, before the next frame can be evaluated;
* resting orders of every tenant in that market are cancelled (the venue cancels them too on
  close and on reactivation; cancelling ours is idempotent and does not wait for it);
* ``settled`` (the venue's payout, docs ``/getting_started/market_settlement``: $1 per winning
  contract) settles the tenants' Kalshi positions in that market into realised PnL, with the
  result of the event or of the ``determined`` before it; without a result nothing is guessed;
* ``activated`` resumes detection;
* a fee change on the market's event (``event_fee_update``) halts it like an unreadable
  lifecycle message until the feed has re-read its schedule and found the one the pairs file
  states (then the feed reports its unchanged phase, which resumes an active market).

Polymarket's ``market_resolved`` (the market channel's custom feature; the feed puts the
market's tokens in ``MarketBooks.halted``, so detection already refuses them) reaches
:meth:`LifecycleGuard.on_polymarket_resolved`: every tenant's resting orders on those tokens
are cancelled too. The venue cancels them itself (``CANCELED_MARKET_RESOLVED``, venues.md §0.1),
but a resting order of ours must not depend on that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from arbiter.core.book import Outcome
from arbiter.core.detection import Detector
from arbiter.core.lifecycle import LifecycleUpdate, MarketPhase
from arbiter.core.positions import PositionBook
from arbiter.venues.base import ExchangeClient, OrderStatus

__all__ = ["LifecycleGuard", "LifecycleTenant"]

log = logging.getLogger(__name__)


class _Executor(Protocol):
    @property
    def positions(self) -> PositionBook: ...


class LifecycleTenant(Protocol):
    """What the guard needs of a tenant (``TenantRuntime`` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def clients(self) -> Mapping[str, ExchangeClient]: ...

    @property
    def executor(self) -> _Executor: ...


@dataclass
class LifecycleGuard:
    detector: Detector
    tenants: Callable[[], Iterable[LifecycleTenant]]
    #: market -> the result stated by ``determined`` (``settled`` may repeat it or not)
    results: dict[str, Outcome] = field(default_factory=dict)
    #: (market, tenant) settlements applied, so a repeated ``settled`` pays once
    settled: set[tuple[str, str]] = field(default_factory=set)
    #: what happened, newest last (operator view and tests)
    log: list[str] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # -- feed callbacks (synchronous, on the tick path's loop) ---------------------------------
    def on_update(self, update: LifecycleUpdate) -> None:
        market, phase = update.market, update.phase
        if update.result is not None:
            self.results[market] = update.result
        if phase is None:
            return
        if phase.trades:
            if self.detector.resume(market):
                self._note(f"{market}: trading again ({update.event_type})")
            return
        self.detector.halt(market, f"market {phase.value} ({update.event_type})")
        self._note(f"{market}: halted, {phase.value} ({update.event_type})")
        self._spawn(self._cancel_resting(market))
        if phase is MarketPhase.FINALIZED:
            self._settle(market)

    def on_error(self, market: str, reason: str) -> None:
        """Stop the market (fail closed): a lifecycle message or status we cannot read, or a
        fee change (``event_fee_update``) whose schedule the feed has not confirmed yet; the
        feed resumes it with an update in its phase once the fees are re-read and match."""
        self.detector.halt(market, f"not trading: {reason}")
        self._note(f"{market}: halted: {reason}")
        self._spawn(self._cancel_resting(market))

    def on_polymarket_resolved(self, condition_id: str, tokens: Iterable[str]) -> None:
        """A Polymarket market resolved: cancel our resting orders on its tokens."""
        assets = frozenset(tokens)
        self._note(f"{condition_id}: polymarket market resolved, cancelling resting orders")
        self._spawn(self._cancel_resting(condition_id, "polymarket",
                                         lambda market: not assets or market in assets))

    # -- actions -----------------------------------------------------------------------------
    def _settle(self, market: str) -> None:
        winner = self.results.get(market)
        if winner is None:
            self._note(f"{market}: settled without a stated result: positions left unsettled")
            log.error("kalshi %s settled but no result was stated; positions not settled", market)
            return
        for tenant in self.tenants():
            key = (market, tenant.name)
            if key in self.settled:
                continue
            pnl = tenant.executor.positions.settle("kalshi", market, [winner])
            self.settled.add(key)
            self._note(f"{market}: settled {winner.value} for {tenant.name}: realised {pnl}")

    async def _cancel_resting(self, market: str, venue: str = "kalshi",
                              ours: Callable[[str], bool] | None = None) -> None:
        """Cancel every tenant's open orders that ``open_orders(market)`` lists on ``venue`` and
        that ``ours`` accepts (default: the order's market is ``market``)."""
        matches = ours or (lambda order_market: order_market == market)
        for tenant in list(self.tenants()):
            client = tenant.clients.get(venue)
            if client is None:
                continue
            try:
                orders = await client.open_orders(market)
            except Exception as exc:  # the venue cancels on close anyway; report, do not die
                self._note(f"{market}: open orders of {tenant.name} not listed: {exc}")
                continue
            for order in orders:
                if order.status is not OrderStatus.OPEN or not matches(order.market):
                    continue
                try:
                    await client.cancel_order(order.order_id)
                    self._note(f"{market}: cancelled {order.order_id} of {tenant.name}")
                except Exception as exc:
                    self._note(f"{market}: cancel {order.order_id} of {tenant.name}: {exc}")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the venue cancels on close
            coro.close()
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _note(self, text: str) -> None:
        self.log.append(text)
        del self.log[:-200]
        log.info("lifecycle: %s", text)

    async def drain(self) -> None:
        """Wait for pending cancels (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
