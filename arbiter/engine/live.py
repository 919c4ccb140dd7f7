"""The run loop every entrypoint shares: connect to Ray, spawn the engine, watch it, stop it well.

``arbiter run``, ``arbiter demo`` and ``jobs/live.py`` differ only in how they connect and what
they show; all three call :func:`run_engine`. Stopping is the same whatever asks for it (the
duration running out, SIGTERM from ``ray job stop`` or Kubernetes, Ctrl-C): the arbiter stops
admitting, lets sagas in flight finish, cancels open orders on every venue and closes its
journals (every record is already committed; closing checkpoints the WAL); the executors cancel
anything still open from their side; then the actors are killed without restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from arbiter.app.config import EngineConfig
from arbiter.core.units import SIZE_SCALE, money_str
from arbiter.engine.actors import EngineHandles, spawn_engine
from arbiter.engine.localcluster import (
    LocalCluster,
    free_port,
    loopback_only,
    ray_init,
    start_local_cluster,
)
from arbiter.engine.placement import detect_layout
from arbiter.execution.run_report import merge_summaries
from arbiter.telemetry.logging import ray_runtime_env
from arbiter.telemetry.tracing import otel_env

__all__ = ["EngineSnapshot", "RayConnection", "RunSummary", "connect", "run_engine"]


log = logging.getLogger(__name__)


@dataclass
class RayConnection:
    dashboard_url: str | None
    local: LocalCluster | None = None
    owns_ray: bool = True

    def close(self) -> None:
        if self.owns_ray:
            ray.shutdown()
        if self.local is not None:
            self.local.shutdown()


def connect(cluster: str, namespace: str) -> RayConnection:
    """``local``: one embedded node; ``local4``: four local nodes, one per node class;
    ``auto`` or an address: an existing cluster (inside ``ray job submit``, ``auto``)."""
    # every worker process (each actor's) logs JSON with redaction from its first line: Ray's
    # worker_process_setup_hook runs before the worker hosts anything (ADR 0143)
    # the OTEL_* variables reach the workers too (tracing, ADR 0144); inside a job the job's
    # env_vars already do, and naming them again would be a merge conflict
    env_vars = {} if "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ else otel_env()
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": "WARNING",
                             "runtime_env": ray_runtime_env({"env_vars": env_vars} if env_vars else None)}
    if cluster == "local":
        # address="local": always a new cluster of its own, never one that RAY_ADDRESS or
        # /tmp/ray/ray_current_cluster names (ray.init's ``address`` doc, worker.py @ ray 2.60.0);
        # on loopback, usage stats off, token auth on as Ray ships it (localcluster, ADR 0166)
        ctx = ray_init("local", namespace=namespace, include_dashboard=True,
                       dashboard_host="127.0.0.1", dashboard_port=free_port(), **quiet)
        return RayConnection(_url(ctx.dashboard_url))
    if cluster == "local4":
        local = start_local_cluster(4, dashboard=True)
        with loopback_only():  # else ray.init turns 127.0.0.1 into eth0's address and misses it
            ray.init(address=local.address, namespace=namespace, **quiet)
        return RayConnection(local.dashboard_url, local)
    ctx = ray.init(address=cluster, namespace=namespace, **quiet)
    return RayConnection(_url(ctx.dashboard_url), owns_ray=True)


def _url(value: str | None) -> str | None:
    if not value:
        return None
    return value if "://" in value else f"http://{value}"


@dataclass
class EngineSnapshot:
    """One poll of every actor, as the terminal view and the summary read it."""

    elapsed_s: float
    arbiter: dict[str, Any]
    books: dict[str, dict[str, Any]]
    risk: dict[str, Any]
    executors: dict[str, dict[str, Any]]
    layout: str


@dataclass
class RunSummary:
    seconds: float
    layout: str
    opportunities: int
    sagas: dict[str, int]
    refused: dict[str, int]
    pnl: int
    first_leg_ms: dict[str, float]
    journal: dict[str, dict[str, Any]]
    stop: dict[str, Any]
    dashboard_url: str | None = None
    errors: list[str] = field(default_factory=list)
    #: what the failed sagas of the run left open, as journaled (ADR 0171)
    residuals: list[dict[str, Any]] = field(default_factory=list)
    mode: str = ""
    #: the arbiter's build of the hot core (``arbiter.core.compiled()``, ADR 0155)
    core: dict[str, Any] = field(default_factory=dict)

    @property
    def trades(self) -> int:
        return sum(v for k, v in self.sagas.items() if k not in ("no_fill", "unfinished"))

    @property
    def attention(self) -> list[str]:
        """What an operator must act on after this run: failed sagas, residuals, open sagas."""
        out = []
        if self.sagas.get("failed"):
            out.append(f"{self.sagas['failed']} saga(s) failed")
        for r in self.residuals:
            out.append(f"residual {r['name']}: {int(r['contracts']) / SIZE_SCALE:g} contracts, "
                       f"value ${money_str(int(r['value']))}: {r['reason']}")
        if self.sagas.get("unfinished"):
            out.append(f"{self.sagas['unfinished']} saga(s) still open (the next start recovers them)")
        return out


async def _gather(handles: EngineHandles, with_executors: bool, since_ns: int) -> tuple[Any, ...]:
    calls: list[Any] = [handles.arbiter.status.remote(since_ns), handles.risk.snapshot.remote()]
    calls += [m.top.remote() for m in handles.monitors.values()]
    if with_executors:
        calls += [e.summary.remote(since_ns) for e in handles.executors.values()]
    results: list[Any] = []
    for ref in calls:  # one by one: an actor in the middle of a restart must not hide the rest
        try:
            results.append(await asyncio.wait_for(ref, 5.0))
        except Exception:
            results.append({})
    return tuple(results)


async def _adopt(handles: EngineHandles, config: EngineConfig) -> None:
    """Executor actors for the tenants the arbiter added while running (``adopt_tenants``)."""
    try:
        tenants = await asyncio.wait_for(handles.arbiter.tenant_configs_now.remote(), 5.0)
    except Exception:
        return  # restarting: the next poll asks again (and the last one before the stop)
    for name in handles.adopt_tenants(config, tenants):
        log.info("tenant %s was added while running: its executor actor is started", name)


async def run_engine(
    config: EngineConfig,
    duration_s: float | None,
    on_snapshot: Callable[[EngineSnapshot], None] | None = None,
    poll_s: float = 0.5,
    ready_timeout_s: float = 60.0,
    install_signals: bool = True,
    stop: asyncio.Event | None = None,
) -> RunSummary:
    """Spawn the engine on the connected cluster, run until the duration, a signal or ``stop``
    is set, then stop it."""
    layout = detect_layout(ray.cluster_resources())  # type: ignore[no-untyped-call]
    # the run's account is the journals' since this instant, whichever incarnations wrote them
    since_ns = time.time_ns()
    handles = spawn_engine(config, layout)
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    errors: list[str] = []
    started = time.monotonic()
    status: dict[str, Any] = {}
    executors: dict[str, dict[str, Any]] = {}
    # wait until the arbiter trades (recovery done, feeds subscribed)
    while time.monotonic() - started < ready_timeout_s and not stop.is_set():
        with contextlib.suppress(Exception):
            status = await asyncio.wait_for(handles.arbiter.status.remote(since_ns), 5.0)
            if status.get("ready") or status.get("error"):
                break
        await asyncio.sleep(0.2)
    if status.get("error"):
        errors.append(f"arbiter: {status['error']}")
        stop.set()
    elif not status.get("ready"):
        errors.append(f"arbiter not ready after {ready_timeout_s:.0f}s")
        stop.set()
    t0 = time.monotonic()
    polls = 0
    while not stop.is_set():
        elapsed = time.monotonic() - t0
        if duration_s is not None and elapsed >= duration_s:
            break
        with_executors = polls % 4 == 0  # and their tenants: the ones added while running
        if with_executors:
            await _adopt(handles, config)
        res = await _gather(handles, with_executors, since_ns)
        polls += 1
        status = res[0] or status
        n = len(handles.monitors)
        books = dict(zip(handles.monitors, res[2:2 + n], strict=True))
        if len(res) > 2 + n:
            executors = dict(zip(handles.executors, res[2 + n:], strict=True))
        if on_snapshot is not None:
            on_snapshot(EngineSnapshot(elapsed, status, books, res[1], executors, layout.name))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
    seconds = time.monotonic() - t0
    stop_info: dict[str, Any] = {}
    await _adopt(handles, config)  # a tenant added since the last poll
    try:
        stop_info = await asyncio.wait_for(handles.arbiter.stop.remote(), 30.0)
        status = await asyncio.wait_for(handles.arbiter.status.remote(since_ns), 5.0)
    except Exception as exc:
        errors.append(f"stop: {type(exc).__name__}: {exc}")
    for name, executor in handles.executors.items():
        try:
            stop_info[f"canceled_{name}"] = await asyncio.wait_for(
                executor.cancel_open_orders.remote(), 15.0)
            executors[name] = await asyncio.wait_for(executor.summary.remote(since_ns), 10.0)
        except Exception as exc:
            errors.append(f"executor {name}: {type(exc).__name__}: {exc}")
    for actor in handles.all():
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)
    # sagas, PnL and residuals from the journals (ADR 0172), never one incarnation's counters
    runs = [e["run"] for e in executors.values() if isinstance(e.get("run"), dict)]
    missing = sorted(set(handles.executors) - {n for n, e in executors.items() if "run" in e})
    for name in missing:  # unknown is never zero: a tenant with no account fails the run
        errors.append(f"journal account of tenant {name} unavailable")
    account = merge_summaries(runs)
    return RunSummary(
        seconds=seconds, layout=layout.name,
        opportunities=int(status.get("opportunities", 0)),
        sagas=dict(account["sagas"]), refused=dict(status.get("refused", {})),
        pnl=int(account["pnl"]), first_leg_ms=dict(status.get("first_leg_ms", {})),
        journal=executors, stop=stop_info, errors=errors, residuals=list(account["residuals"]),
        mode=config.mode, core=dict(status.get("core") or {}),
    )
