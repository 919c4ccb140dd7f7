"""The shared launcher (ADR 0147): one opportunity to one tenant, in the fair-share order,
falling through refusals within the tick; blocked, benched and untraded tenants skipped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import pytest

from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.units import Money, Size
from arbiter.execution.sharing import SharedLauncher
from arbiter.execution.tickpath import SagaReport


class Fake:
    """A tenant's launcher: refuses with ``refuse`` or runs a saga ending ``outcome``."""

    def __init__(self, name: str, refuse: str | None = None, outcome: str = "completed",
                 delay_ns: int = 0, clock: list[int] | None = None) -> None:
        self.name, self.refuse, self.outcome = name, refuse, outcome
        self.delay_ns, self.clock = delay_ns, clock
        self.started = 0

    def try_start(self, opportunity: Opportunity) -> Awaitable[SagaReport] | str:
        if self.refuse is not None:
            return self.refuse
        self.started += 1
        return self._run(opportunity)

    async def _run(self, opp: Opportunity) -> SagaReport:
        if self.clock is not None:
            self.clock[0] += self.delay_ns
        return SagaReport("s", opp.pair, opp.direction, self.outcome, 3, self.name)


def opp(pair: str = "p", size: int = 1) -> Opportunity:
    legs = (Leg("kalshi", "KX", Outcome.YES, 4000, Money(0), Money(0), 0),
            Leg("polymarket", "222", Outcome.NO, 5000, Money(0), Money(0), 0))
    return Opportunity(pair, "k_yes_p_no", Size(size), legs, Money(0), Money(0), Money(1), 0)


def launcher(**kw: object) -> tuple[SharedLauncher, list[int]]:
    clock = [0]
    return SharedLauncher(clock_ns=lambda: clock[0], **kw), clock  # type: ignore[arg-type]


async def test_rotation_by_weight_and_fall_through() -> None:
    shared, _ = launcher()
    a, b = Fake("a"), Fake("b")
    shared.add("a", a, 3, ["p"])
    shared.add("b", b, 1, ["p"])
    for _ in range(8):
        report = await shared.start(opp())
        assert report.tenant in ("a", "b")
    assert (a.started, b.started) == (6, 2)
    a.refuse = "max_open_sagas"  # a refusal consumed nothing: b gets it within the same call
    report = await shared.start(opp())
    assert report.tenant == "b" and shared.members["a"].refused["max_open_sagas"] == 1


async def test_blocked_untraded_and_nobody() -> None:
    blocked = {"a": "paused"}
    shared, _ = launcher(blocked=lambda t, _p: blocked.get(t))
    shared.add("a", Fake("a"), 1, ["p", "q"])
    shared.add("b", Fake("b"), 1, ["q"])
    report = await shared.start(opp("p"))  # a paused, b does not trade p
    assert report.outcome == "rejected:paused" and report.tenant == "a"
    assert shared.members["b"].refused == {}
    blocked.clear()
    assert (await shared.start(opp("p"))).tenant == "a"
    shared.remove("a")
    assert (await shared.start(opp("p"))).outcome == "rejected:no_tenant"


async def test_stall_and_credentials_bench_only_that_tenant() -> None:
    shared, clock = launcher(stall_ns=100)
    slow = Fake("slow", delay_ns=500, clock=clock)
    shared.add("slow", slow, 1, ["p"])
    shared.add("fine", Fake("fine"), 1, ["p"])
    shared.add("zed", Fake("zed"), 1, ["p"])
    assert (await shared.start(opp())).tenant == "fine"
    assert (await shared.start(opp())).tenant == "slow"  # took 500 ns > stall_ns
    assert shared.bench.benched("slow", clock[0]) == "stalled"
    tenants = [(await shared.start(opp())).tenant for _ in range(4)]
    assert "slow" not in tenants and set(tenants) == {"fine", "zed"}
    shared.strike("zed", "credentials")
    assert {(await shared.start(opp())).tenant for _ in range(3)} == {"fine"}
    clock[0] += 10**12  # the backoff is over: both are offered opportunities again
    slow.delay_ns = 0
    seen = {(await shared.start(opp())).tenant for _ in range(6)}
    assert seen == {"fine", "slow", "zed"}
    assert shared.bench.record("slow") is None  # a completed saga cleared it


async def test_a_saga_that_raises_benches_and_propagates() -> None:
    shared, _ = launcher()

    class Boom(Fake):
        async def _run(self, opp: Opportunity) -> SagaReport:
            raise RuntimeError("venue client blew up")

    shared.add("a", Boom("a"), 1, ["p"])
    with pytest.raises(RuntimeError):
        await shared.start(opp())
    assert shared.bench.benched("a", 0) == "saga_error"
    assert (await shared.start(opp())).outcome == "rejected:saga_error"
    await asyncio.sleep(0)


async def test_a_saga_still_running_after_stall_ns_benches_its_tenant_at_once() -> None:
    """The bench does not wait for a stalled saga to end (its lookups can take a minute)."""
    gate = asyncio.Event()

    class Hung(Fake):
        async def _run(self, opp: Opportunity) -> SagaReport:
            await gate.wait()
            return SagaReport("s", opp.pair, opp.direction, "completed", 0, self.name)

    shared = SharedLauncher(stall_ns=20_000_000)  # 20 ms, the real clock
    shared.add("hung", Hung("hung"), 1, ["p", "q"])
    shared.add("fine", Fake("fine"), 1, ["p", "q"])
    assert (await shared.start(opp("q"))).tenant == "fine"
    running = asyncio.ensure_future(shared.start(opp("p")))  # hung's turn
    await asyncio.sleep(0.1)
    assert not running.done()
    assert shared.bench.benched("hung", time.time_ns()) == "stalled"
    assert {(await shared.start(opp("q"))).tenant for _ in range(3)} == {"fine"}
    gate.set()
    assert (await running).tenant == "hung"
    assert shared.bench.record("hung") is not None  # a strike during the saga: not cleared


async def test_a_tenant_whose_start_raises_is_benched_and_the_next_one_trades() -> None:
    """Its tag never moves (it is never charged), so without the bench it would be first in
    line for every opportunity and starve everyone."""

    class Broken(Fake):
        def try_start(self, opportunity: Opportunity) -> Awaitable[SagaReport] | str:
            raise OSError("disk full: journal append failed")

    shared, _ = launcher()
    shared.add("a", Broken("a"), 16, ["p"])
    shared.add("b", Fake("b"), 1, ["p"])
    assert [(await shared.start(opp())).tenant for _ in range(3)] == ["b", "b", "b"]
    assert shared.bench.benched("a", 0) == "start_error"
    assert shared.members["a"].refused["start_error"] == 3  # once raised, twice benched for it
