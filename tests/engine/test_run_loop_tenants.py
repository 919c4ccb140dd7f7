"""A tenant added while the engine runs gets its executor actor from the run loop, and its part
of the run is in the run's account (``run_engine`` on a local Ray, paper venues).

Before, only the tenants of the starting config had an executor actor: a tenant added through
the control plane traded in the arbiter, but its sagas and PnL were missing from the run
summary, and nothing cancelled its orders from the executor's side at the stop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import ray

from arbiter.app.config import load_config
from arbiter.engine.actors import actor_name
from arbiter.engine.live import run_engine
from arbiter.engine.placement import Role
from arbiter.sim.launcher import LocalVenues
from tests.engine.ray_support import ray_session, until

NAMESPACE = "arbiter-test-run-loop"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_tenant_added_while_running_gets_an_executor_and_its_run_account(
        tmp_path: Path) -> None:
    with ray_session(NAMESPACE, address="local", num_cpus=2, include_dashboard=False):
        venues = LocalVenues(tmp_path, tenants=("alice", "dave"))
        await venues.start()
        try:
            full = load_config(venues.config_path).with_overrides(
                namespace=NAMESPACE, metrics_port=0, warm_us=0, reconcile_s=3600.0)
            dave = next(t for t in full.tenants if t.name == "dave")
            config = full.with_overrides(tenants=tuple(t for t in full.tenants
                                                       if t.name != "dave"))
            stop = asyncio.Event()
            run = asyncio.create_task(run_engine(config, None, install_signals=False,
                                                 stop=stop, poll_s=0.2))
            try:
                async def ready_arbiter() -> Any:
                    arbiter = ray.get_actor(actor_name(Role.ARBITER), namespace=NAMESPACE)
                    status = await arbiter.status.remote()
                    return arbiter if status["ready"] else None

                arbiter = await until(ready_arbiter, 60, "the arbiter to be ready")
                await arbiter.add_tenant.remote(dave)

                async def dave_traded() -> bool:
                    status = await arbiter.status.remote()
                    return sum(status["allocation"]["dave"]["sagas"].values()) >= 1

                await until(dave_traded, 90, "dave to trade after being added")

                async def dave_has_an_executor() -> bool:
                    executor = ray.get_actor(actor_name(Role.EXECUTOR, "dave"),
                                             namespace=NAMESPACE)
                    return (await executor.summary.remote())["tenant"] == "dave"

                await until(dave_has_an_executor, 30, "dave's executor actor")
            finally:
                stop.set()
            summary = await asyncio.wait_for(run, 120)
        finally:
            await venues.stop()
    assert summary.errors == []
    assert set(summary.journal) == {"alice", "dave"}
    dave_run = summary.journal["dave"]["run"]
    assert sum(dave_run["sagas"].values()) >= 1
    alice_run = summary.journal["alice"]["run"]
    for ending, n in summary.sagas.items():  # the run's account is both tenants' journals
        assert n == alice_run["sagas"].get(ending, 0) + dave_run["sagas"].get(ending, 0)
    assert summary.pnl == alice_run["pnl"] + dave_run["pnl"]
