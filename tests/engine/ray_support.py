"""One way to run the paper engine on a local Ray for the actor tests.

Starting Ray and the engine is most of what these tests cost, so each test module starts them
once (module scope) and every module starts them the same way; a module only says which Ray it
runs on and how the engine differs (:class:`EngineSpec`). The ``engine`` fixture in this folder's
``conftest.py`` is the one user of :func:`running_engine`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from arbiter.app.config import EngineConfig, load_config
from arbiter.engine.actors import EngineHandles, spawn_engine
from arbiter.engine.placement import Layout
from arbiter.sim.launcher import LocalVenues


@dataclass
class Running:
    venues: LocalVenues
    config: EngineConfig
    handles: EngineHandles


@dataclass(frozen=True)
class EngineSpec:
    """What differs between the modules: the Ray namespace, the layout, config overrides."""

    namespace: str
    layout: Layout
    overrides: dict[str, Any] = field(default_factory=dict)
    #: the paper tenants, each with its own accounts at the local venues
    tenants: tuple[str, ...] = ("paper",)


async def until(probe: Any, timeout_s: float, what: str) -> Any:
    """Poll ``probe()`` (an awaitable factory) until it returns a truthy value."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = await probe()
            if value:
                return value
        except Exception as exc:  # an actor booting or restarting answers with errors for a while
            last_exc = exc
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_exc!r})")


@contextmanager
def ray_session(namespace: str, **init: Any) -> Iterator[None]:
    """``ray.init`` for the module, always shut down; the driver's logs stay out of pytest's."""
    ray.init(namespace=namespace, log_to_driver=False, **init)
    try:
        yield
    finally:
        ray.shutdown()


@asynccontextmanager
async def running_engine(spec: EngineSpec, workdir: Path) -> AsyncIterator[Running]:
    """Both local venues and the engine on them, yielded once the arbiter reports ready."""
    venues = LocalVenues(workdir, tenants=spec.tenants)
    await venues.start()
    config = load_config(venues.config_path).with_overrides(
        namespace=spec.namespace, **spec.overrides
    )
    handles = spawn_engine(config, spec.layout)
    try:
        async def ready() -> bool:
            status = await handles.arbiter.status.remote()
            assert status["error"] is None, status["error"]
            return bool(status["ready"])

        await until(ready, 60, "the arbiter to be ready")
        yield Running(venues, config, handles)
    finally:
        for actor in handles.all():
            ray.kill(actor, no_restart=True)
        await venues.stop()
