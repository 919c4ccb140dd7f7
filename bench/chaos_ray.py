"""Ray-level chaos: ``kill -9`` of the arbiter actor, the executor actor or a whole worker node
while a saga is in flight, on a local multi-node Ray cluster; every run audited (issue 23).

    python -m bench.chaos --ray --runs 200 --json          # kinds: arbiter, executor, node

The engine is the real one (:func:`arbiter.engine.actors.spawn_engine`, dedicated layout) on a
local cluster: a head node with the monitors and the risk manager, and two worker nodes that can
both host the arbiter and the executor, so that killing the node the arbiter runs on leaves Ray a
node to restart it on (the killed node is replaced afterwards). Both local venues run in this
process (:class:`arbiter.sim.launcher.LocalVenues`, one still market), so the audit reads the
venues' own order tables.

Each run opens one arbitrage window (a Kalshi YES offer far below the Polymarket NO price). The
engine's saga buys Polymarket NO first, then Kalshi YES; the local Kalshi holds order creates for
``hold_s`` (a slow venue), so leg 2 is in flight for a while. When leg 1 reaches Polymarket the
bench waits a random part of that window and kills, by kind:

* ``arbiter``: SIGKILL of the arbiter actor's worker process (``ray::Arbiter``);
* ``executor``: SIGKILL of the tenant's executor actor (the account supervisor);
* ``node``: SIGKILL of every process of the worker node the arbiter runs on (raylet and workers).

Then, at random, the world moves: the Kalshi offer shrinks as leg 1 arrives (leg 2 fills part,
and the rest of leg 1 is below Polymarket's minimum size: a residual that must be reported by
name), and the rest of the offer is withdrawn while the engine is down (recovery must unwind,
not spend its attempts on completions).
Once the engine has recovered, the run is audited:

* ``duplicate_orders``: a second venue order for one step, or a venue order the journal does not
  know (Kalshi by client order id, Polymarket by order id);
* ``unknown_outcomes``: sagas still open, or journal orders without a final state, after recovery;
* ``unreported_one_sided``: contracts one-sided at the venues (journal positions, which the
  reconciliation shows equal to the venues') beyond what the journal's residual reports name.

All three must be 0, per fault kind. Prints the table and the JSON record (last line with
``--json``); writes bench/results/chaos_ray.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from aiohttp import web
from ray.cluster_utils import Cluster

from arbiter.app.build import build_clients
from arbiter.app.config import EngineConfig, load_config
from arbiter.core.book import Outcome
from arbiter.core.residual import RESIDUAL_LOG
from arbiter.core.units import SIZE_SCALE
from arbiter.engine.actors import EngineHandles, spawn_engine
from arbiter.engine.placement import detect_layout
from arbiter.execution.journal import Journal
from arbiter.execution.reconcile import reconcile
from arbiter.execution.run_report import journal_summary
from arbiter.sim.common import _spec_from
from arbiter.sim.kalshi.server import MAKER_ACCOUNT
from arbiter.sim.launcher import LocalVenues

__all__ = ["KINDS", "run_ray_chaos"]

RESULTS = Path(__file__).resolve().parent / "results" / "chaos_ray.json"
KINDS = ("arbiter", "executor", "node")
NAMESPACE = "arbiter-chaos"

#: one still market: YES 0.49/0.51 on both venues, deep; only the bench opens windows
SCENARIO: dict[str, Any] = {
    "name": "chaos-still", "step_ms": 1000, "steps": 1,
    "market": [{"key": "CHAOS", "title": "Chaos market", "fair": "0.50", "volatility_ticks": 0,
                "levels": 3, "spread_ticks": 1, "size": "100000"}],
}
TICKER = "KXCHAOS"
WINDOW_PRICE = 4000  # Kalshi YES offered at $0.40 against Polymarket NO at $0.51: a $0.09 edge
SAGA_SIZE = 5  # [detection] max_contracts: the Polymarket minimum order size
#: head: monitors + risk manager; two workers that can each host the arbiter and the executor
HEAD = {"monitor_node": 1.0, "risk_node": 1.0}
WORKER = {"arbiter_node": 1.0, "executor_node": 1.0}
#: node death noticed in ~1 s (defaults: 5 x 3 s), so the arbiter is rescheduled quickly
SYSTEM_CONFIG = {"health_check_initial_delay_ms": 1000, "health_check_period_ms": 300,
                 "health_check_timeout_ms": 300, "health_check_failure_threshold": 3}


@dataclass
class Orders:
    """Order creates seen by the local venues (bench middleware), and the Kalshi hold."""

    hold_s: float = 0.3
    poly: list[float] = field(default_factory=list)
    kalshi: list[float] = field(default_factory=list)
    leg1: asyncio.Event = field(default_factory=asyncio.Event)

    def middleware(self, venue: str) -> Any:
        @web.middleware
        async def watch(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]
                        ) -> web.StreamResponse:
            if request.method == "POST" and request.path.endswith(("/order", "/orders")):
                (self.poly if venue == "polymarket" else self.kalshi).append(time.monotonic())
                if venue == "polymarket":
                    self.leg1.set()
                elif self.hold_s:
                    await asyncio.sleep(self.hold_s)  # a slow venue: leg 2 stays in flight
            response: web.StreamResponse = await handler(request)
            return response

        return watch


@dataclass
class RunResult:
    kind: str
    saga_started: bool
    mid_saga: bool
    recovered_s: float
    duplicate_orders: int = 0
    unknown_outcomes: int = 0
    unreported_one_sided: int = 0
    endings: dict[str, int] = field(default_factory=dict)
    residuals: int = 0
    #: the arbiter's ``status`` and the executor's summary disagreeing with the journal
    summary_mismatches: int = 0
    details: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, workdir: Path, seed: int, hold_s: float) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.orders = Orders(hold_s)
        self.venues = LocalVenues(workdir / "paper")
        self.venues.spec = _spec_from(SCENARIO, SCENARIO["name"])
        self.venues.engine_extra = 'first_venue = "polymarket"\ncooldown_ms = 1\n'
        self.venues.risk_extra = "max_hedge_failures = 100000\n"
        self.cluster: Cluster | None = None
        self.handles: EngineHandles | None = None
        self.config: EngineConfig | None = None
        self.clients: dict[str, Any] = {}
        self._saved_bids: list[tuple[int, int]] = []
        self._window: str | None = None
        self._n = 0

    # -- set-up ------------------------------------------------------------------------------
    async def start(self) -> None:
        kalshi, poly = self.venues.build()
        kalshi.app.middlewares.insert(0, self.orders.middleware("kalshi"))
        poly.app.middlewares.insert(0, self.orders.middleware("polymarket"))
        await self.venues.start()
        text = self.venues.config_path.read_text()
        text = text.replace('min_edge = "0.001"', 'min_edge = "0.01"').replace(
            "max_contracts = 5", f"max_contracts = {SAGA_SIZE}")
        self.venues.config_path.write_text(text)
        self.config = load_config(self.venues.config_path).with_overrides(
            namespace=NAMESPACE, reconcile_s=3600.0)
        self.cluster = Cluster(initialize_head=True, head_node_args={
            "resources": HEAD, "num_cpus": 1, "include_dashboard": False,
            "_system_config": SYSTEM_CONFIG})
        for _ in range(2):
            self.cluster.add_node(resources=WORKER, num_cpus=1)
        self.cluster.wait_for_nodes()
        ray.init(address=self.cluster.address, namespace=NAMESPACE, log_to_driver=False)
        layout = detect_layout(ray.cluster_resources())  # type: ignore[no-untyped-call]
        self.handles = spawn_engine(self.config, layout)
        await self.ready(None, 120)
        self.clients = dict(await build_clients(self.config, self.config.tenants[0]))
        # one saga without a fault: the engine is trading before the first kill
        if not await self.saga_begins(SAGA_SIZE, tries=10):
            raise RuntimeError("the engine never took a window")
        await self._settled(self.config.journal_path("paper"), 30)
        self.close_window()

    async def stop(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        if self.handles is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.handles.arbiter.stop.remote(), 30)
            for actor in self.handles.all():
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)
        ray.shutdown()
        if self.cluster is not None:
            self.cluster.shutdown()  # type: ignore[no-untyped-call]
        await self.venues.stop()

    async def ready(self, old_pid: int | None, timeout_s: float = 90) -> dict[str, Any]:
        """The arbiter trading again (a new process when ``old_pid`` is given)."""
        assert self.handles is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                status: dict[str, Any] = await asyncio.wait_for(
                    self.handles.arbiter.status.remote(), 5)
                if status.get("error"):
                    raise RuntimeError(f"arbiter failed to start: {status['error']}")
                if status["ready"] and status["pid"] != old_pid:
                    return status
            await asyncio.sleep(0.1)
        raise RuntimeError("the arbiter did not come back")

    # -- the window --------------------------------------------------------------------------
    def _kalshi(self) -> Any:
        assert self.venues.kalshi is not None
        return self.venues.kalshi

    def open_window(self, size: int) -> None:
        """Pull the Kalshi YES bids (an offer at 0.40 would trade against them), then offer."""
        sim = self._kalshi()
        ex = sim.exchange
        book = ex.markets[TICKER].book
        bids = [o for o in book.open_orders(MAKER_ACCOUNT) if o.side.value == "buy"]
        self._saved_bids = [(o.price, o.remaining) for o in bids]
        deltas = []
        for o in bids:
            deltas.extend(ex.cancel(MAKER_ACCOUNT, o.order_id)[2])
        self._n += 1
        order, opening = ex.place(MAKER_ACCOUNT, TICKER, "yes", "sell", WINDOW_PRICE,
                                  size * SIZE_SCALE, f"chaos-{self._n}")
        self._window = order.order_id
        sim.publish(deltas + list(opening))

    def shrink_window(self, size: int) -> None:
        """Leave only ``size`` contracts of the offer: leg 2 fills part, the rest of leg 1 is a
        residual below Polymarket's minimum size (it cannot be unwound there)."""
        self.withdraw_window()
        sim = self._kalshi()
        self._n += 1
        order, opening = sim.exchange.place(MAKER_ACCOUNT, TICKER, "yes", "sell", WINDOW_PRICE,
                                            size * SIZE_SCALE, f"chaos-{self._n}")
        self._window = order.order_id
        sim.publish(list(opening))

    def withdraw_window(self) -> None:
        sim = self._kalshi()
        ex = sim.exchange
        if self._window is not None:
            order = ex.orders.get(self._window)
            if order is not None and order.engine.is_open:
                sim.publish(ex.cancel(MAKER_ACCOUNT, self._window)[2])
            self._window = None

    def close_window(self) -> None:
        self.withdraw_window()
        sim = self._kalshi()
        deltas = []
        for i, (price, size) in enumerate(self._saved_bids):
            _, d = sim.exchange.place(MAKER_ACCOUNT, TICKER, "yes", "buy", price, size,
                                      f"restore-{self._n}-{i}")
            deltas.extend(d)
        self._saved_bids = []
        sim.publish(deltas)

    # -- faults ------------------------------------------------------------------------------
    async def kill(self, kind: str, status: dict[str, Any]) -> None:
        assert self.handles is not None and self.cluster is not None
        if kind == "arbiter":
            os.kill(int(status["pid"]), signal.SIGKILL)
        elif kind == "executor":
            summary = await self.handles.executors["paper"].summary.remote()
            os.kill(int(summary["pid"]), signal.SIGKILL)
        else:
            node_id = await self.handles.arbiter.node_id.remote()
            node = next(n for n in self.cluster.worker_nodes if n.node_id == node_id)
            kill_node(node, int(status["pid"]))
            self.cluster.remove_node(node, allow_graceful=False)

    def replace_nodes(self) -> None:
        """Back to two arbiter-capable nodes. After the run's audit: starting a raylet blocks
        this process (Ray starts nodes from the main thread only), and the venues in it must
        keep answering the recovering engine."""
        assert self.cluster is not None
        while len(self.cluster.worker_nodes) < 2:
            self.cluster.add_node(resources=WORKER, num_cpus=1)

    # -- one run -----------------------------------------------------------------------------
    async def run_once(self, kind: str) -> RunResult:
        assert self.handles is not None and self.config is not None
        status = await self.ready(None)
        journal_path = self.config.journal_path("paper")
        since = time.time_ns()
        partial = self.rng.random() < 0.25  # the offer is smaller than the saga: a residual
        withdraw = self.rng.random() < 0.5  # the rest of the offer goes while the engine is down
        started = await self.saga_begins(SAGA_SIZE)
        if started and partial:  # before leg 2 reaches the venue (it is held there)
            self.shrink_window(self.rng.randint(1, SAGA_SIZE - 1))
        mid = False
        why: list[str] = []
        if not started:  # say why the engine did not trade (refusals, skipped books)
            st = await self.handles.arbiter.status.remote()
            why.append(f"no saga: refused {st['refused']} skipped {st['skipped']} "
                       f"rejections {st['rejections']} risk {st['risk']} ticks {st['ticks']} "
                       f"opportunities {st['opportunities']} admitted {st['admitted']} "
                       f"recent {st['recent'][-2:]}")
        t_kill = time.monotonic()
        if started:
            await asyncio.sleep(self.rng.uniform(0, self.orders.hold_s + 0.05))
            mid = _open_sagas(journal_path) > 0
            t_kill = time.monotonic()
            await self.kill(kind, status)
            if withdraw:
                await asyncio.sleep(self.rng.uniform(0, 0.2))
                self.withdraw_window()
        if kind in ("arbiter", "node") and started:
            await self.ready(int(status["pid"]))
        await self._settled(journal_path, 60)
        recovered = time.monotonic() - t_kill
        self.close_window()
        result = RunResult(kind, started, mid, recovered, details=why)
        await self.audit(result, since)
        if kind == "node":
            self.replace_nodes()
        return result

    async def saga_begins(self, size: int, tries: int = 4) -> bool:
        """Open the window until the engine takes it (a restarted arbiter trades once its Kalshi
        book is sequence-valid again, up to a second after it reports ready)."""
        for _ in range(tries):
            self.orders.leg1.clear()
            self.open_window(size)
            try:
                await asyncio.wait_for(self.orders.leg1.wait(), 3.0)
                return True
            except TimeoutError:
                self.close_window()
        return False

    async def _settled(self, path: Path, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while _open_sagas(path) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    # -- audit -------------------------------------------------------------------------------
    async def audit(self, result: RunResult, since_ns: int) -> None:
        """Venue order tables and positions against the journal (the whole journal: a fault
        that leaves something behind shows in the run that caused it)."""
        assert self.config is not None
        tenant = self.config.tenants[0]
        with Journal(self.config.journal_path("paper"), synchronous="NORMAL") as journal:
            rows = journal.orders()
            result.unknown_outcomes = len(journal.unfinished()) + sum(
                1 for r in rows if r.state != "final")
            by_cid = {r.cid: r for r in rows}
            poly_ids = {r.order_id for r in rows if r.venue == "polymarket" and r.order_id}
            kx = self._kalshi().exchange
            seen: Counter[str] = Counter()
            for oid in kx.accounts[tenant.kalshi_key_id].order_ids:
                cid = kx.orders[oid].client_order_id
                seen[cid] += 1
                if seen[cid] > 1 or cid not in by_cid:
                    result.duplicate_orders += 1
                    result.details.append(f"kalshi order {oid} cid {cid} twice or unknown")
            assert self.venues.polymarket is not None
            for o in self.venues.polymarket.exchange.orders.values():
                if o.maker == self.venues.polymarket_address and o.id not in poly_ids:
                    result.duplicate_orders += 1
                    result.details.append(f"polymarket order {o.id} unknown to the journal")
            report = await reconcile(journal, self.clients)
            differences = [d.describe() for d in report.differences] + list(report.errors)
            result.details += differences
            pair = self.config.pairs[0]
            sizes = journal.position_sizes()
            ky = sizes.get(("kalshi", pair.kalshi_ticker, Outcome.YES), 0)
            kn = sizes.get(("kalshi", pair.kalshi_ticker, Outcome.NO), 0)
            pn = sizes.get(("polymarket", pair.polymarket_no_token, Outcome.NO), 0)
            py = sizes.get(("polymarket", pair.polymarket_yes_token, Outcome.YES), 0)
            one_sided = abs(ky - pn) + abs(kn - py)
            reported = sum(int(b["contracts"]) for _, _, b in journal.logs(RESIDUAL_LOG))
            unreported = max(one_sided - reported, 0)
            # a journal that disagrees with the venue hides what is really held: unreported
            result.unreported_one_sided = (unreported + SIZE_SCALE - 1) // SIZE_SCALE + len(
                report.differences)
            if unreported or report.differences:
                result.details.append(f"one-sided {one_sided}, reported {reported}")
            run = journal_summary(journal, since_ns)
            result.endings = {k: v for k, v in run["sagas"].items()}
            result.residuals = len(run["residuals"])
        # what operators read (status, the run summary's source) must be the journal's account,
        # whichever incarnation of the arbiter or the executor answers
        assert self.handles is not None
        status = await self.handles.arbiter.status.remote(since_ns)
        summary = await self._executor_summary(since_ns)
        for who, view in (("status", status), ("executor summary", summary.get("run", {}))):
            if (view.get("sagas"), view.get("pnl"), len(view.get("residuals", []))) != (
                    run["sagas"], run["pnl"], len(run["residuals"])):
                result.summary_mismatches += 1
                result.details.append(f"{who} {view.get('sagas')} != journal {run['sagas']}")

    async def _executor_summary(self, since_ns: int, timeout_s: float = 60) -> dict[str, Any]:
        """The executor actor's journal summary, once it answers again after a kill."""
        assert self.handles is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                out: dict[str, Any] = await asyncio.wait_for(
                    self.handles.executors["paper"].summary.remote(since_ns), 5)
                return out
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


def _open_sagas(path: Path) -> int:
    """Sagas without an ending, read straight from SQLite (no journal object in this process
    while the arbiter writes); 0 when the journal is not there yet."""
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        (n,) = db.execute("SELECT COUNT(*) FROM sagas WHERE ending IS NULL").fetchone()
    return int(n)


def kill_node(node: Any, also: int) -> None:
    """SIGKILL every process of a local Ray node: its raylet, every process under it (the
    workers hosting actors) and ``also`` (the arbiter's worker), all at once."""
    raylet = node.all_processes["raylet"][0].process.pid
    victims = {raylet, also, *_descendants(raylet)}
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


async def run_ray_chaos(runs: int, seed: int = 1, kinds: tuple[str, ...] = KINDS,
                        hold_s: float = 0.3, folder: Path | None = None,
                        progress: bool = False) -> dict[str, Any]:
    """``runs`` faults, cycling through ``kinds``; the per-kind counts and the whole record."""
    own = None
    if folder is None:
        own = tempfile.TemporaryDirectory(prefix="arbiter-chaos-ray-")
        folder = Path(own.name)
    # a private, local, throw-away cluster of this machine (as bench/sweep.py): no token to
    # hand around, and no usage report leaves the machine
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    bench = Bench(folder, seed, hold_s)
    results: list[RunResult] = []
    started = time.perf_counter()
    try:
        await bench.start()
        setup_s = time.perf_counter() - started
        for i in range(runs):
            kind = kinds[i % len(kinds)]
            result = await bench.run_once(kind)
            results.append(result)
            if progress:
                print(f"run {i + 1}/{runs} {kind}: started={result.saga_started} "
                      f"mid={result.mid_saga} back {result.recovered_s:.1f}s "
                      f"dup {result.duplicate_orders} unknown {result.unknown_outcomes} "
                      f"unreported {result.unreported_one_sided} "
                      f"mismatch {result.summary_mismatches} {result.endings} "
                      f"{result.details[:2]}", flush=True)
    finally:
        await bench.stop()
        if own is not None:
            own.cleanup()
    by_kind: dict[str, Any] = {}
    for kind in kinds:
        mine = [r for r in results if r.kind == kind]
        endings: Counter[str] = Counter()
        for r in mine:
            endings.update(r.endings)
        back = [r.recovered_s for r in mine if r.saga_started]
        by_kind[kind] = {
            "runs": len(mine),
            "sagas_started": sum(r.saga_started for r in mine),
            "killed_mid_saga": sum(r.mid_saga for r in mine),
            "duplicate_orders": sum(r.duplicate_orders for r in mine),
            "unknown_outcomes": sum(r.unknown_outcomes for r in mine),
            "unreported_one_sided": sum(r.unreported_one_sided for r in mine),
            "residuals_reported": sum(r.residuals for r in mine),
            "summary_mismatches": sum(r.summary_mismatches for r in mine),
            "endings": dict(endings),
            "mean_recovery_s": round(sum(back) / len(back), 2) if back else 0.0,
            "max_recovery_s": round(max(back), 2) if back else 0.0,
        }
    return {
        "runs": len(results), "by_kind": by_kind,
        "duplicate_orders": sum(k["duplicate_orders"] for k in by_kind.values()),
        "unknown_outcomes": sum(k["unknown_outcomes"] for k in by_kind.values()),
        "unreported_one_sided": sum(k["unreported_one_sided"] for k in by_kind.values()),
        "summary_mismatches": sum(k["summary_mismatches"] for k in by_kind.values()),
        "hold_s": hold_s, "setup_s": round(setup_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "details": [d for r in results for d in r.details][:20],
    }


def print_table(out: dict[str, Any]) -> None:
    cols = ("runs", "killed_mid_saga", "duplicate_orders", "unknown_outcomes",
            "unreported_one_sided", "residuals_reported", "mean_recovery_s")
    print(f"{'kind':>9} " + " ".join(f"{c:>20}" for c in cols))
    for kind, row in out["by_kind"].items():
        print(f"{kind:>9} " + " ".join(f"{row[c]:>20}" for c in cols))
        print(f"{'':>9} endings {row['endings']}")
    print(f"runs {out['runs']} in {out['wall_s']} s; duplicate orders {out['duplicate_orders']}, "
          f"unknown outcomes {out['unknown_outcomes']}, unreported one-sided "
          f"{out['unreported_one_sided']}; status/summary vs journal mismatches "
          f"{out['summary_mismatches']}")


def main_ray(runs: int, seed: int, kinds: tuple[str, ...], as_json: bool, progress: bool) -> int:
    unknown = set(kinds) - set(KINDS)
    if unknown:
        print(f"chaos: unknown fault kind(s) {sorted(unknown)}; kinds: {', '.join(KINDS)}",
              file=sys.stderr)
        return 2
    out = asyncio.run(run_ray_chaos(runs, seed, kinds, progress=progress))
    print_table(out)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    if as_json:
        print(json.dumps(out))
    bad = (out["duplicate_orders"] or out["unknown_outcomes"] or out["unreported_one_sided"]
           or out["summary_mismatches"])
    return 1 if bad else 0
