"""Simulated time for replays: a discrete-event clock that async code can sleep on.

The execution path (saga runner, simulated exchange latency) is written as ordinary asyncio code
so that the *same* code runs live, paper and in backtests. In a replay nothing may wait on wall
time: every sleep registers a timer here, and the replayer advances ``now_ns`` from one market
event or timer to the next. Between two instants the replayer lets all simulation tasks run
until each one either finished or sleeps on this clock again (:meth:`SimClock.settle`), so the
outcome is a pure function of the inputs: asyncio's ready queue is FIFO and nothing else runs.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

__all__ = ["Clock", "SimClock", "SimClockError", "WallClock"]

T = TypeVar("T")


class SimClockError(RuntimeError):
    """A simulation task blocked on something other than the clock (a deadlock in replay)."""


class Clock(Protocol):
    def time_ns(self) -> int: ...

    async def sleep_ns(self, ns: int) -> None: ...


class WallClock:
    """Live and paper trading: real time."""

    def time_ns(self) -> int:
        return time.time_ns()

    async def sleep_ns(self, ns: int) -> None:
        await asyncio.sleep(max(0, ns) / 1e9)


class SimClock:
    """Replay time. ``spawn`` the tasks that sleep on it, so :meth:`settle` knows when all wait."""

    __slots__ = ("_counter", "_timers", "live", "now_ns", "waiting")

    def __init__(self, start_ns: int = 0) -> None:
        self.now_ns = start_ns
        self._timers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = 0
        self.live = 0
        self.waiting = 0

    def time_ns(self) -> int:
        return self.now_ns

    async def sleep_ns(self, ns: int) -> None:
        await self.sleep_until(self.now_ns + max(0, ns))

    async def sleep_until(self, ts_ns: int) -> None:
        if ts_ns <= self.now_ns and not self._timers:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._counter += 1
        heapq.heappush(self._timers, (max(ts_ns, self.now_ns), self._counter, future))
        self.waiting += 1
        try:
            await future
        finally:
            if future.cancelled() or not future.done():
                self.waiting -= 1  # fire_due already un-counted a timer it woke

    def next_deadline(self) -> int | None:
        return self._timers[0][0] if self._timers else None

    def advance(self, ts_ns: int) -> None:
        """Move time forward (never back) without firing timers (market events do this)."""
        if ts_ns > self.now_ns:
            self.now_ns = ts_ns

    def fire_due(self) -> int:
        """Set ``now`` to the earliest deadline and wake every timer due then; returns count."""
        if not self._timers:
            return 0
        due = self._timers[0][0]
        self.advance(due)
        fired = 0
        while self._timers and self._timers[0][0] <= self.now_ns:
            _, _, future = heapq.heappop(self._timers)
            if not future.done():
                future.set_result(None)
                # woken tasks count as running from now on, so settle() waits for them
                self.waiting -= 1
            fired += 1
        return fired

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        self.live += 1
        task = asyncio.get_running_loop().create_task(coro)

        def done(_: asyncio.Task[T]) -> None:
            self.live -= 1

        task.add_done_callback(done)
        return task

    async def settle(self, max_spins: int = 100_000) -> None:
        """Run ready simulation tasks until every live one sleeps on this clock (or ended)."""
        spins = 0
        while self.live > self.waiting:
            await asyncio.sleep(0)
            spins += 1
            if spins > max_spins:
                raise SimClockError(
                    f"{self.live - self.waiting} simulation task(s) blocked outside the clock"
                )
