"""Tick-to-order latency, venue to venue, with the engine in its multi-node layout.

    python -m bench.latency --json [--samples 2000] [--nodes 4]

Both local venues run in this process on loopback (:class:`arbiter.sim.launcher.LocalVenues`,
still books); the engine runs on a local Ray cluster with one node per node class. Each probe
creates one arbitrage window on the local Kalshi: it pulls the YES bids of one market and then
offers YES far below the Polymarket NO price. ``t0`` is taken when the local Kalshi publishes the
frame that opens the window; ``t1`` when the first order after it reaches a local venue's server
(its bytes are read off the socket; leg 1 goes to Kalshi by default, ``[engine] first_venue``).
The time until the simulator's HTTP stack hands the order to its handler is reported too
(``to_handler_*``): that part is the simulator's Python, not the engine. Both stamps come from this process's
monotonic clock, so no clock sync is involved. The probe is then consumed by the engine (or
withdrawn) and the bids are restored before the next probe, on the next market.

Prints ``p50_ms``, ``p99_ms``, ``samples`` and the JSON record (last line with ``--json``); writes
bench/results/latency.json. Floor: p99 <= 2 ms; target: p50 <= 0.5 ms, p99 <= 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import uvloop
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from arbiter.app.config import load_config
from arbiter.core.units import PRICE_SCALE, SIZE_SCALE
from arbiter.engine.actors import spawn_engine
from arbiter.engine.localcluster import loopback_only, ray_init, start_local_cluster
from arbiter.engine.placement import detect_layout
from arbiter.engine.tuning import pin_threads, set_realtime
from arbiter.sim.kalshi.server import MAKER_ACCOUNT, KalshiSim
from arbiter.sim.launcher import PROBE_SCENARIO, LocalVenues

RESULTS = Path(__file__).resolve().parent / "results" / "latency.json"
PROBE_PRICE = 4000  # $0.40: far below the Polymarket NO ask of $0.52 → a window worth taking
PROBE_SIZE = 5 * SIZE_SCALE
KALSHI_API_TIER = "premier"  # 100 creates/s
ORDER_RATE = (150, 50)  # the paper tenant's negotiated (orders/s, burst)


class Stamps:
    """``t0`` of the open probe, the first order's receipt after it (``t1``: its bytes reach the
    venue's server) and the moment the venue's order handling starts (``th``: HTTP parsed, before
    authentication). Wall-clock copies of ``t0``/``t1`` are comparable with the engine's own
    stamps because both processes share the machine clock."""

    def __init__(self) -> None:
        self.wall: list[tuple[int, int]] = []
        self.handled: list[int] = []
        #: per sample, the simulator's own time from its publish call to the frame's write
        self.publish: list[int] = []
        self.t0: int | None = None
        self.tp: int | None = None
        self.t1: int | None = None
        self.th: int | None = None
        self.arrived = asyncio.Event()

    def arm(self) -> None:
        self.t0, self.tp, self.t1, self.th = None, None, None, None
        self.arrived.clear()


def _is_order(data: bytes) -> bool:
    line = data[:data.find(b"\r\n")]
    return line.startswith(b"POST ") and line.endswith((b"/orders HTTP/1.1", b"/order HTTP/1.1"))


def stamp_receipt(stamps: Stamps) -> None:
    """Note when an order's bytes reach a local venue's server (this process's aiohttp servers).

    The venue "receives" an order when its request arrives, as a desk measures wire to wire;
    what the simulator's own Python HTTP stack then spends on it (~0.1 ms warm, ~0.4 ms after
    20 ms idle on this machine, measured with a bare aiohttp server) is the simulator's cost,
    not the engine's, and is reported separately as ``to_handler``.
    """
    original = RequestHandler.data_received

    def data_received(self: RequestHandler, data: bytes) -> None:
        if stamps.tp is not None and stamps.t1 is None and _is_order(data):
            stamps.t1 = time.perf_counter_ns()
            stamps.arrived.set()
        original(self, data)

    RequestHandler.data_received = data_received  # type: ignore[method-assign]


def stamp_emission(stamps: Stamps) -> None:
    """Take ``t0`` when the local Kalshi writes the opening frame's bytes to its socket.

    The venue has emitted the frame when its bytes leave for the wire, the mirror of ``t1``;
    formatting the frame in the simulator's Python before that (~0.1 ms on a cold CPU) is the
    simulator's cost, not the engine's, and is reported separately (``from_publish``).
    """
    original = KalshiSim._flush

    def _flush(self: KalshiSim, conn: Any) -> None:
        if stamps.tp is not None and stamps.t0 is None and conn.pending:
            stamps.t0 = time.perf_counter_ns()
        original(self, conn)

    KalshiSim._flush = _flush  # type: ignore[method-assign]


def order_stamp(stamps: Stamps) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if (stamps.tp is not None and stamps.th is None and request.method == "POST"
                and request.path.endswith(("/order", "/orders"))):
            stamps.th = time.perf_counter_ns()
        response: web.StreamResponse = await handler(request)
        return response

    return middleware


async def probe_once(venues: LocalVenues, ticker: str, stamps: Stamps, n: int) -> int | None:
    kalshi = venues.kalshi
    assert kalshi is not None
    ex = kalshi.exchange
    market = ex.markets[ticker]
    bids = [o for o in market.book.open_orders(MAKER_ACCOUNT) if o.side.value == "buy"]
    saved = [(o.price, o.remaining) for o in bids]
    deltas = []
    for o in bids:
        deltas.extend(ex.cancel(MAKER_ACCOUNT, o.order_id)[2])
    kalshi.publish(deltas)
    await asyncio.sleep(0.002)  # the engine sees a one-sided book first: no opportunity yet
    stamps.arm()
    order, opening = ex.place(MAKER_ACCOUNT, ticker, "yes", "sell", PROBE_PRICE, PROBE_SIZE,
                              f"probe-{n}")
    wall_p = time.time_ns()
    stamps.tp = time.perf_counter_ns()
    kalshi.publish(opening)
    latency: int | None = None
    try:
        await asyncio.wait_for(stamps.arrived.wait(), 2.0)
        assert stamps.t1 is not None and stamps.t0 is not None
        latency = stamps.t1 - stamps.t0
        stamps.publish.append(stamps.t0 - stamps.tp)
        wall0 = wall_p + stamps.t0 - stamps.tp
        stamps.wall.append((wall0, wall0 + latency))
        for _ in range(100):  # the handler stamp follows within a loop turn or two
            if stamps.th is not None:
                break
            await asyncio.sleep(0)
        stamps.handled.append(-1 if stamps.th is None else stamps.th - stamps.t0)
    except TimeoutError:
        latency = None
    # let the second leg take the probe, then withdraw what is left and restore the bids
    deadline = time.monotonic() + 1.0
    while order.engine.is_open and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    restore = []
    if order.engine.is_open:
        restore.extend(ex.cancel(MAKER_ACCOUNT, order.order_id)[2])
    for i, (price, size) in enumerate(saved):
        _, d = ex.place(MAKER_ACCOUNT, ticker, "yes", "buy", price, size, f"restore-{n}-{i}")
        restore.extend(d)
    kalshi.publish(restore)
    await asyncio.sleep(0.01)
    return latency


async def run(samples: int, nodes: int, warmup: int, realtime: bool,
              journal_dir: str | None, venue_cpu: int | None = None,
              tick_cpu: int | None = None) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="arbiter-bench-")
    venues = LocalVenues(workdir, PROBE_SCENARIO["name"])
    venues.engine_extra = (f'first_venue = "kalshi"\ncooldown_ms = 1\n'
                           f"realtime = {'true' if realtime else 'false'}\n")
    if tick_cpu is not None:
        venues.engine_extra += f"tick_cpus = [{tick_cpu}]\n"
    sys.setswitchinterval(0.0002)  # the Ray driver's threads share this process with the venues
    venues.risk_extra = "max_hedge_failures = 100000\nmax_open_sagas = 8\n"
    # a probe every ~20 ms is ~100 orders/s: a desk with a premier Kalshi key and a negotiated
    # order rate (the default tier's 10/s would refuse most probes, which then measure nothing)
    venues.kalshi_extra = f'api_tier = "{KALSHI_API_TIER}"\n'
    venues.tenant_extra = f"orders_per_second = {ORDER_RATE[0]}\norder_burst = {ORDER_RATE[1]}\n"
    kalshi, poly = venues.build()
    stamps = Stamps()
    # outermost: the venue has received the order once its request is parsed, before it
    # authenticates it or applies its own rate limits (wire-to-wire, as a desk measures it)
    poly.app.middlewares.insert(0, order_stamp(stamps))
    kalshi.app.middlewares.insert(0, order_stamp(stamps))
    stamp_receipt(stamps)
    stamp_emission(stamps)
    await venues.start()
    text = venues.config_path.read_text().replace('min_edge = "0.001"', 'min_edge = "0.01"')
    text = text.replace("max_open_sagas = 4\n", "")
    if journal_dir:
        text = text.replace('journal_dir = "journal"', f'journal_dir = "{journal_dir}"')
    venues.config_path.write_text(text)
    config = load_config(venues.config_path)
    local = start_local_cluster(nodes) if nodes > 1 else None
    if local is not None:
        with loopback_only():  # the nodes listen on 127.0.0.1 only (arbiter.engine.localcluster)
            ray.init(address=local.address, namespace=config.namespace, log_to_driver=False)
    else:
        ray_init("local", namespace=config.namespace, log_to_driver=False, include_dashboard=False)
    if realtime:  # the local venues stand in for remote machines: keep this machine's other
        with contextlib.suppress(OSError):  # load off their clock too. Only now, after the
            set_realtime()  # cluster started: Ray's own daemons must not inherit SCHED_RR
    if venue_cpu is not None:
        # the venues stand in for remote machines, which never share a CPU with the engine.
        # Unpinned, the kernel tends to wake the venue on the CPU that just wrote the order (the
        # arbiter's), where it waits for the arbiter's post-send bookkeeping: ~0.7 ms of "wire
        # to venue" that a remote venue never sees (ADR 0066 has both figures)
        pin_threads({venue_cpu})
    try:
        layout = detect_layout(ray.cluster_resources())  # type: ignore[no-untyped-call]
        handles = spawn_engine(config, layout)
        for _ in range(300):
            status = await handles.arbiter.status.remote()
            if status["ready"] or status["error"]:
                break
            await asyncio.sleep(0.1)
        if not status["ready"]:
            raise RuntimeError(f"engine not ready: {status['error']}")
        await asyncio.sleep(1.0)
        tickers = [f"KX{m['key']}" for m in PROBE_SCENARIO["market"]]
        got: list[int] = []
        missed = 0
        started = time.monotonic()
        n = 0
        while len(got) < samples:
            lat = await probe_once(venues, tickers[n % len(tickers)], stamps, n)
            n += 1
            if n <= warmup:
                continue
            if lat is None:
                missed += 1
                if missed > max(50, samples // 10):
                    raise RuntimeError(f"{missed} probes got no order")
            else:
                got.append(lat)
        elapsed = time.monotonic() - started
        final = await handles.arbiter.status.remote()
        legs = await handles.arbiter.first_leg_log.remote()
        await handles.arbiter.stop.remote()
    finally:
        ray.shutdown()
        if local is not None:
            local.shutdown()
        await venues.stop()
        if journal_dir:  # the paper journal is scratch; leave the directory as it was found
            for leftover in Path(journal_dir).glob("paper.sqlite*"):
                leftover.unlink()
    got_raw = list(got)
    got.sort()
    ms = [x / 1e6 for x in got]
    breakdown = _breakdown(stamps.wall[-len(got):], legs)
    handled = sorted(x / 1e6 for x in stamps.handled[-len(got):] if x >= 0)
    # the same samples timed from the simulator's publish call (its frame formatting included)
    from_publish = sorted((lat + pub) / 1e6 for lat, pub in
                          zip(got_raw, stamps.publish[-len(got):], strict=True))
    return {
        "bench": "latency",
        "what": "local Kalshi frame that opens a window -> the local venue that receives leg 1",
        "layout": layout.name, "nodes": nodes, "realtime": realtime, "venue_cpu": venue_cpu,
        "tick_cpu": tick_cpu,
        "journal_dir": str(config.journal_dir),
        "samples": len(got), "missed": missed,
        "p50_ms": _pct(ms, 0.5), "p90_ms": _pct(ms, 0.9), "p99_ms": _pct(ms, 0.99),
        "max_ms": round(ms[-1], 4), "mean_ms": round(statistics.fmean(ms), 4),
        "from_publish_p50_ms": _pct(from_publish, 0.5), "from_publish_p99_ms": _pct(from_publish, 0.99),
        "to_handler_p50_ms": _pct(handled, 0.5), "to_handler_p99_ms": _pct(handled, 0.99),
        "floor_p99_ms": 2.0, "target_p50_ms": 0.5, "target_p99_ms": 1.0,
        "sagas": final.get("sagas", {}), "seconds": round(elapsed, 1),
        "in_process_detect_to_order_ms": final.get("first_leg_ms", {}),
        "order_lanes": final.get("order_lanes", {}),
        "in_process_detect_to_launch_us": final.get("detect_to_launch_us", {}),
        "in_process_launch_us": final.get("launch_us", {}),
        "breakdown_p50_p99_ms": breakdown,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "probe_price": PROBE_PRICE / PRICE_SCALE,
        "kalshi_api_tier": KALSHI_API_TIER, "tenant_order_rate": list(ORDER_RATE),
        "refused": final.get("refused", {}),
        "warm": final.get("warm"),
        # the build of the hot core the arbiter ran (ADR 0155; ARBITER_PURE=1 for the sources)
        "core": final.get("core"),
    }


def _pct(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of an ascending list, in the bench's rounding (None when empty)."""
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 4) if ordered else None


def _breakdown(wall: list[tuple[int, int]],
               legs: list[tuple[int, int, int]]) -> dict[str, list[float | None]]:
    """Split each sample at the engine's stamps: venue frame → detection (the sim's WS send,
    loopback, feed, parse, book, detection), detection → first leg handed to its client (risk,
    plan, journal), the client call (rate limit, body, write on the order lane), then written →
    the venue reads it (loopback and the venue process waking)."""
    parts: dict[str, list[int]] = {"frame_to_detect": [], "detect_to_send": [], "client_call": [],
                                   "wire_to_venue": []}
    j = 0
    for t0, t1 in wall:
        while j < len(legs) and legs[j][0] < t0:
            j += 1
        if j < len(legs) and legs[j][1] <= t1 + 1_000_000:
            detected, sent, written = legs[j]
            parts["frame_to_detect"].append(detected - t0)
            parts["detect_to_send"].append(sent - detected)
            parts["client_call"].append(written - sent)
            parts["wire_to_venue"].append(t1 - written)
    out: dict[str, list[float | None]] = {}
    # the slowest samples, split the same way: which stage a tail comes from
    rows = sorted(zip(*parts.values(), strict=True), key=lambda r: -sum(r))[:10]
    out["worst_10"] = [round(sum(r) / 1e6, 4) for r in rows]
    for i, name in enumerate(parts):
        out[f"worst_10_{name}"] = [round(r[i] / 1e6, 4) for r in rows]
    for name, values in parts.items():
        values.sort()
        if values:
            in_ms = [v / 1e6 for v in values]
            out[name] = [_pct(in_ms, 0.5), _pct(in_ms, 0.99)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=4, help="local Ray nodes (1..4)")
    parser.add_argument("--no-realtime", action="store_true",
                        help="leave the tick path and the venues at normal CPU priority")
    parser.add_argument("--journal-dir", default=None,
                        help="journal directory (default: next to the paper venues' files, on "
                             "disk); /dev/shm isolates the run from other processes' disk I/O")
    parser.add_argument("--venue-cpu", type=int, default=(os.cpu_count() or 1) - 1,
                        help="CPU the local venues (this process) are pinned to, standing in for "
                             "remote machines (default: the last CPU; -1: not pinned)")
    parser.add_argument("--tick-cpu", type=int, default=-1,
                        help="pin the arbiter to this CPU ([engine] tick_cpus; default: not pinned)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # the venues run on uvloop like the engine's actors do (Ray picks it up when installed)
    cpus = os.cpu_count() or 1
    for flag, cpu in (("--venue-cpu", args.venue_cpu), ("--tick-cpu", args.tick_cpu)):
        if cpu >= cpus:
            parser.error(f"{flag} {cpu}: this machine has CPUs 0-{cpus - 1}")
    venue_cpu = args.venue_cpu if args.venue_cpu >= 0 and cpus > 1 else None
    record = uvloop.run(run(args.samples, args.nodes, args.warmup, not args.no_realtime,
                            args.journal_dir, venue_cpu,
                            args.tick_cpu if args.tick_cpu >= 0 else None))
    print(f"samples {record['samples']} (missed {record['missed']}) on the {record['layout']} "
          f"layout, {record['nodes']} node(s)")
    split = record["breakdown_p50_p99_ms"]
    print(f"breakdown p50/p99 ms: { {k: v for k, v in split.items() if not k.startswith('worst')} }")
    print("slowest 10 samples (ms): " + "; ".join(
        f"{total} = " + " + ".join(str(split[f"worst_10_{name}"][i])
                                   for name in ("frame_to_detect", "detect_to_send",
                                                "client_call", "wire_to_venue"))
        for i, total in enumerate(split.get("worst_10", []))))
    print(f"order lanes: {record['order_lanes']}; in process: detect->launch "
          f"{record['in_process_detect_to_launch_us']} us, launch {record['in_process_launch_us']} us")
    print(f"tick-path warming (ADR 0067): {record['warm']}")
    print(f"from the simulator's publish call (its frame formatting included): p50_ms "
          f"{record['from_publish_p50_ms']}  p99_ms {record['from_publish_p99_ms']}")
    print(f"to the venue's order handler (sim HTTP stack included): p50_ms "
          f"{record['to_handler_p50_ms']}  p99_ms {record['to_handler_p99_ms']}")
    print(f"p50_ms {record['p50_ms']}  p90_ms {record['p90_ms']}  p99_ms {record['p99_ms']}  "
          f"max_ms {record['max_ms']}  (floor p99 <= 2 ms)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    if args.json:
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
