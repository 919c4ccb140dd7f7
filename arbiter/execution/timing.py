"""Tick-to-order timing: a pass-through client that stamps when each first leg leaves and how long
the venue takes to answer, and the order lanes' counters (ADR 0064, 0141).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any, Protocol

from arbiter.execution.tenant import TenantRuntime
from arbiter.execution.tickpath import LatencyWindow, TickPath
from arbiter.telemetry.metrics import Metrics
from arbiter.venues.base import ExchangeClient, submit, unwrap

__all__ = ["DETECTED_NS", "TimedClient", "first_leg_summary", "lane_stats", "open_order_lanes",
           "time_first_leg"]

log = logging.getLogger(__name__)


class Histogram(Protocol):
    """What the timing needs of a histogram (Ray's ``ray.util.metrics.Histogram`` in the engine)."""

    def observe(self, value: float) -> None: ...


#: detection time of the opportunity whose saga runs in the current asyncio task
DETECTED_NS: ContextVar[int] = ContextVar("detected_ns", default=0)


async def open_order_lanes(runtime: TenantRuntime) -> None:
    """Give each venue client that has an order lane its kept-alive connections (ADR 0064)."""
    for client in runtime.clients.values():
        opener = getattr(unwrap(client), "open_order_lane", None)
        if opener is not None:
            await opener()


def lane_stats(runtime: TenantRuntime) -> dict[str, dict[str, int]]:
    """Per venue: creates written inline by the order lane, and those that found it busy."""
    out = {}
    for venue, client in runtime.clients.items():
        lane = getattr(unwrap(client), "order_lane", None)
        if lane is not None:
            out[venue] = {"sent": lane.sent, "misses": lane.misses, "idle": lane.idle}
    return out


def time_first_leg(runtime: TenantRuntime, tick: TickPath, hist: Histogram,
                    prom: Metrics | None = None) -> None:
    """Wrap each client's ``place_order`` to time detection → first-leg send (``-L1`` ids)."""
    for venue, client in list(runtime.clients.items()):
        runtime.clients[venue] = TimedClient(client, tick.stats.first_leg, hist,
                                              tick.stats.first_leg_log, prom)
    runtime.executor.clients = runtime.clients
    runtime.risk.clients = runtime.clients


class TimedClient:
    """Pass-through :class:`ExchangeClient` that records when each first leg leaves."""

    def __init__(self, inner: ExchangeClient, window: LatencyWindow, hist: Histogram,
                 log: deque[tuple[int, int, int]], prom: Metrics | None = None) -> None:
        self._log = log
        self._prom = prom
        self.inner = inner
        self.venue = inner.venue
        self._window = window
        self._hist = hist

    def submit_order(self, request: Any) -> Awaitable[Any]:
        detected = DETECTED_NS.get()
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


def first_leg_summary(tick: TickPath) -> dict[str, float]:
    window = tick.stats.first_leg
    return {"p50": (window.percentile(0.5) or 0) / 1e6, "p99": (window.percentile(0.99) or 0) / 1e6,
            "n": window.count}

