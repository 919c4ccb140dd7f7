"""The in-process engine runs on the execution layer's own objects (risk manager, positions)."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest

from arbiter.control.engine import InProcessEngine, SagaUpdate, TenantHooks
from arbiter.core.accounts import Tier, UserContext
from arbiter.core.book import Outcome
from arbiter.core.positions import PositionBook
from arbiter.core.risk import Reason, RiskBook, RiskLimits
from arbiter.core.saga import Ending, Finished, LegPlan, Saga, SagaPlan
from arbiter.execution.risk_manager import RiskManager
from arbiter.telemetry.metrics import Metrics
from arbiter.tenancy.registry import TenantRegistry
from tests.control.conftest import opportunity
from tests.telemetry.test_tracing import SIZE, run_saga
from tests.telemetry.test_tracing import opportunity as opp


async def test_kill_switch_goes_through_the_risk_manager() -> None:
    book = RiskBook(RiskLimits(require_balance=False))
    rm = RiskManager(book, {}, {}, None, clock=lambda: 1_000)
    positions = PositionBook()
    engine = InProcessEngine([], ["FED-DEC"])
    engine.add_tenant("acme", risk=book, positions=positions, hooks=TenantHooks(kill=rm.kill, reset=rm.reset))
    assert rm.check_and_reserve("s-0", opportunity("FED-DEC")).approved
    book.release("s-0")
    result = await engine.trip_kill_switch("acme", "operator said so")
    assert result.changed and book.killed == "operator said so"
    assert book.kill_log == [(1_000, "tripped: operator said so")]  # the manager's clock: it did the trip
    decision = rm.check_and_reserve("s-1", opportunity("FED-DEC"))
    assert not decision.approved and decision.reason is Reason.KILL_SWITCH
    assert engine.position_book("acme") is positions
    await engine.reset_kill_switch("acme")
    assert book.killed is None and rm.check_and_reserve("s-2", opportunity("FED-DEC")).approved


async def test_saga_progress_streams_core_events() -> None:
    engine = InProcessEngine(["acme"], ["FED"])
    got: list[SagaUpdate] = []

    async def consume() -> None:
        async for update in engine.sagas("acme"):
            got.append(update)
            if update.kind == "finished":
                return

    task = asyncio.create_task(consume())
    while engine.saga_feed.subscribers == 0:
        await asyncio.sleep(0)

    class Feed:
        saga: Saga | None = None

        def event(self, ev: object) -> None:
            from arbiter.core.saga import Event, Started

            assert isinstance(ev, Event)
            if isinstance(ev, Started):
                self.saga = Saga(ev.plan)
            else:
                assert self.saga is not None
                self.saga.apply(ev)
            assert self.saga is not None
            engine.saga_progress("acme", self.saga, ev)

    run_saga(Feed(), leg2_fill=4_000_000)  # type: ignore[arg-type]
    await asyncio.wait_for(task, 5)
    kinds = [u.kind for u in got]
    assert kinds[0] == "started" and kinds[-1] == "finished" and "decided" in kinds
    assert got[-1].state == "done" and got[-1].detail.startswith("hedged")
    assert (await engine.status("acme")).tenants[0].open_sagas == 0


def test_engine_feeds_metrics_and_alerts_on_failed_sagas() -> None:
    m = Metrics()
    engine = InProcessEngine(["acme"], ["FED"], metrics=m)
    engine.publish_opportunity("acme", opp())
    leg = LegPlan("kalshi", "FED", Outcome.YES, 4500, 100, 10_000, 0, "none", "0")
    saga = Saga(SagaPlan("s-9", "FED", "d", SIZE, leg, leg, 0, 0, 0, 0))
    end = Finished(Ending.FAILED, "residual 4 left", -5, 4, 10)
    saga.apply(end)
    engine.saga_progress("acme", saga, end)
    text = generate_latest(m.registry).decode()
    assert 'arbiter_opportunities_total{pair="FED",tenant="acme"} 1.0' in text
    assert 'arbiter_sagas_total{outcome="failed",pair="FED",tenant="acme"} 1.0' in text
    (alert,) = asyncio.run(engine.alerts("acme"))
    assert alert.kind == "hedge_failed" and alert.detail == "saga s-9 on FED: residual 4 left"


async def test_engine_follows_the_tenant_registry() -> None:
    registry = TenantRegistry()
    registry.add(UserContext.for_tier("acme", Tier.PRO))
    engine = InProcessEngine([], ["FED"])
    engine.follow(registry)
    assert engine.tenants() == ["acme"]
    registry.add(UserContext.for_tier("globex", Tier.PRO))
    assert engine.tenants() == ["acme", "globex"] and engine.may_trade("globex", "FED")
    registry.remove("acme")
    assert engine.tenants() == ["globex"]
