"""Every tenant trades on the local Ray cluster (ADR 0147): three paper tenants in the arbiter
actor, each opportunity allotted to one of them, shares within the stated bound, and one
tenant's kill switch (tripped through the actor, as the control plane does) stops that tenant
only. One module-scoped cluster and engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest

from arbiter.core.units import SIZE_SCALE
from arbiter.engine.placement import Layout
from tests.engine.ray_support import EngineSpec, Running, ray_session, until

NAMESPACE = "arbiter-test-tenants"
TENANTS = ("alice", "bob", "carol")

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def engine_spec() -> Iterator[EngineSpec]:
    with ray_session(NAMESPACE, address="local", num_cpus=2, include_dashboard=False):
        yield EngineSpec(NAMESPACE, Layout(dedicated=False),
                         {"metrics_port": 0, "warm_us": 0, "reconcile_s": 3600.0}, TENANTS)


def sagas(status: dict[str, Any], tenant: str) -> int:
    return sum(status["allocation"][tenant]["sagas"].values())


async def test_three_tenants_trade_fairly_and_a_kill_switch_is_one_tenants(engine: Running) -> None:
    arbiter = engine.handles.arbiter

    async def everyone_traded() -> bool:
        status = await arbiter.status.remote()
        return all(sagas(status, t) >= 3 for t in TENANTS)

    await until(everyone_traded, 120, "every tenant to trade")
    status = await arbiter.status.remote()
    served = {t: status["allocation"][t]["served"] for t in TENANTS}
    weights = {t: status["allocation"][t]["weight"] for t in TENANTS}
    total = sum(served.values())
    for t in TENANTS:
        deviation = Fraction(served[t]) - Fraction(total * weights[t], sum(weights.values()))
        print(f"ray: {t} served {served[t] / SIZE_SCALE} contracts, "
              f"deviation {float(deviation) / SIZE_SCALE:+.2f} of {total / SIZE_SCALE}")
        assert abs(deviation) <= (len(TENANTS) - 1) * 5 * SIZE_SCALE  # max_contracts = 5

    assert await arbiter.trip.remote("bob", "test: bob's kill switch")
    await asyncio.sleep(0.5)  # a saga of bob's in flight may still end
    before = await arbiter.status.remote()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = await arbiter.status.remote()
        if all(sagas(now, t) >= sagas(before, t) + 2 for t in ("alice", "carol")):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("alice and carol did not keep trading after bob's kill switch")
    assert sagas(now, "bob") == sagas(before, "bob")
    assert now["allocation"]["bob"]["refused"].get("kill_switch", 0) > 0
    assert now["risk"]["bob"]["killed"] and not now["risk"]["alice"]["killed"]


async def test_remove_and_add_a_tenant_through_the_control_plane(engine: Running) -> None:
    """The control plane's adapter removes carol from the running actor and adds her back."""
    from arbiter.control.ray_engine import RayEngineControl

    arbiter = engine.handles.arbiter
    control = RayEngineControl(arbiter, list(TENANTS), [p.name for p in engine.config.pairs])
    removed = await control.remove_tenant("carol")
    assert removed["tenant"] == "carol"
    described = await arbiter.describe.remote()
    assert "carol" not in described["tenants"] and "carol" not in control.tenants()
    carol = next(t for t in engine.config.tenants if t.name == "carol")
    await control.add_tenant(carol)
    assert "carol" in (await arbiter.describe.remote())["tenants"]
    before = sagas(await arbiter.status.remote(), "carol")

    async def carol_trades() -> bool:
        return sagas(await arbiter.status.remote(), "carol") > before

    await until(carol_trades, 60, "carol to trade again after being added back")
