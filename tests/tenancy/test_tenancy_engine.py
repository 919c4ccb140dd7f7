"""The engine's per-tenant Executor actors follow the TenantRegistry, and keep working through a
master key rotation, with venue credentials that come only from the encrypted store.

Each Executor runs in its own Ray worker process with an EngineConfig built from the store
(``engine_tenant_config``) by the registry's add hook; the proof that its credentials are right is
that it sees, through its own authenticated venue clients, an order the tenant's account holds
at the local Kalshi venue. A tenant added in the middle of a rotation (envelopes half re-wrapped)
boots too, and removing a tenant stops its actor.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from arbiter.app.build import kalshi_config, kalshi_signer
from arbiter.app.config import engine_tenant_config, load_config
from arbiter.core.accounts import UserContext
from arbiter.core.book import Outcome
from arbiter.core.units import ONE_CONTRACT, Price
from arbiter.engine.actors import Executor, actor_name
from arbiter.engine.placement import Layout, Role, actor_options
from arbiter.security.backends import FileBackend
from arbiter.security.credentials import (
    CredentialInfo,
    CredentialStore,
    MasterKeyRing,
    resolve_keys,
)
from arbiter.security.secrets import KalshiCredentials, PolymarketCredentials, Secret
from arbiter.sim.launcher import LocalVenues
from arbiter.tenancy.registry import TenantRegistry
from arbiter.venues.base import Action, OrderRequest
from arbiter.venues.kalshi.rest import KalshiRestClient
from tests.engine.ray_support import ray_session

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

NAMESPACE = "arbiter-tenancy-test"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # "local": always a fresh instance, never a cluster some other process left running here.
    with ray_session(NAMESPACE, address="local", num_cpus=2, include_dashboard=False):
        yield


async def _until(probe: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
            if last:
                return last
        except Exception as exc:  # an actor still booting answers with errors for a while
            last = exc
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def test_executors_follow_the_registry_through_a_rotation(local_ray: None, tmp_path: Path) -> None:
    venues = LocalVenues(tmp_path / "paper")
    await venues.start()
    handles: dict[str, Any] = {}
    probe_client: KalshiRestClient | None = None
    try:
        base = load_config(venues.config_path).with_overrides(namespace=NAMESPACE)
        paper = base.tenants[0]
        backend = FileBackend(tmp_path / "secrets")
        store = CredentialStore.open(tmp_path / "store", backend, create=True)
        assert paper.polymarket_api is not None
        pem, poly_key, *api = (s or Secret("") for s in resolve_keys(
            [paper.kalshi_private_key, paper.polymarket_private_key, *paper.polymarket_api]))
        for tenant in ("alice", "bob"):  # two tenants sharing the paper account at both venues
            store.put_kalshi(
                tenant, KalshiCredentials(paper.kalshi_key_id, pem)
            )
            store.put_polymarket(
                tenant,
                PolymarketCredentials(
                    poly_key,
                    *api,
                ),
            )

        # The account holds one resting order: an executor that authenticates sees it.
        pair = base.pairs[0]
        probe_client = KalshiRestClient(kalshi_config(base, paper), kalshi_signer(paper), max_retries=0)
        await probe_client.place_order(
            OrderRequest(
                pair.kalshi_ticker, Outcome.YES, Action.BUY, Price(100), ONE_CONTRACT, "tenancy-probe-1"
            )
        )

        def on_add(ctx: UserContext) -> None:
            # What the engine does: open the store in the process that needs it, build the config.
            reader = CredentialStore.open(tmp_path / "store", backend)
            config = base.with_overrides(
                tenants=(engine_tenant_config(reader, ctx.tenant_id, tier=ctx.tier),))
            options = actor_options(
                Role.EXECUTOR, Layout(dedicated=False), actor_name(Role.EXECUTOR, ctx.tenant_id), NAMESPACE
            )
            handles[ctx.tenant_id] = ray.remote(Executor).options(**options).remote(config, ctx.tenant_id)

        def on_remove(ctx: UserContext) -> None:
            handle = handles.pop(ctx.tenant_id)
            ray.get(handle.close.remote(), timeout=30)
            ray.kill(handle, no_restart=True)

        registry = TenantRegistry()
        registry.subscribe(on_add, on_remove)
        registry.add(UserContext.for_tier("alice", "pro"))

        async def sees_probe(tenant: str) -> bool:
            return bool(await handles[tenant].open_orders.remote() == 1)

        await _until(lambda: sees_probe("alice"), 60, "alice's executor to see the account's order")

        # Rotate (and retire the old version) in a thread; halfway through, add bob.
        added_mid_rotation = threading.Event()

        def halfway(info: CredentialInfo) -> None:
            if not added_mid_rotation.is_set():
                registry.add(UserContext.for_tier("bob", "free"))
                added_mid_rotation.set()

        report = await asyncio.to_thread(
            store.rotate, lambda ring: ring.save(backend), retire_old=True, on_rewrapped=halfway
        )
        assert added_mid_rotation.is_set() and report.retired == [1] and report.rewrapped == 4
        assert MasterKeyRing.load(backend).versions == [2]

        await _until(lambda: sees_probe("bob"), 60, "bob's executor to see the account's order")
        assert await sees_probe("alice")  # alice's executor kept running through the rotation
        summary = await handles["alice"].summary.remote()
        assert summary["tenant"] == "alice"

        registry.remove("alice")
        with pytest.raises(ValueError):
            ray.get_actor(actor_name(Role.EXECUTOR, "alice"), namespace=NAMESPACE)
        assert ray.get_actor(actor_name(Role.EXECUTOR, "bob"), namespace=NAMESPACE) is not None
        registry.remove("bob")
        assert handles == {}
    finally:
        for handle in handles.values():
            ray.kill(handle, no_restart=True)
        if probe_client is not None:
            await probe_client.close()
        await venues.stop()
