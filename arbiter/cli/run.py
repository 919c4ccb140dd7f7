"""``arbiter run``: the live engine in the foreground (the same engine ``jobs/live.py`` submits).

    arbiter run --config engine.toml [--dry-run] [--kalshi-demo] [--duration 600] [--cluster local4]
    arbiter run --paper [--duration 60]      # both local venues, fake money, no config needed

One status line every few seconds, a summary at the end; SIGTERM/Ctrl-C stop it gracefully
(no new sagas, sagas in flight finish, open orders canceled, journals closed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arbiter.cli.argtypes import cluster, seconds
from arbiter.cli.errors import UsageError
from arbiter.core.units import money_str

if TYPE_CHECKING:  # the engine pulls in Ray: import it when a command runs, not for --help
    from arbiter.app.config import EngineConfig
    from arbiter.engine.live import EngineSnapshot, RunSummary
    from arbiter.sim.launcher import PaperProcess

__all__ = [
    "EXIT_ATTENTION",
    "add_engine_options",
    "engine_session",
    "exit_code",
    "register",
    "status_line",
    "summary_lines",
    "summary_record",
]

#: the exit status of a live run that ended with failed sagas, residuals or open sagas (ADR 0172)
EXIT_ATTENTION = 3


def add_engine_options(parser: argparse.ArgumentParser, default_cluster: str = "local") -> None:
    parser.add_argument("--config", help="engine config (TOML); see docs/engine.md")
    parser.add_argument("--paper", action="store_true",
                        help="start both local venues (fake money) and trade against them")
    parser.add_argument("--dry-run", action="store_true", help="log orders, never send them")
    parser.add_argument("--kalshi-demo", action="store_true",
                        help="Kalshi demo environment (KALSHI_DEMO_* credentials)")
    parser.add_argument("--duration", type=seconds(), default=None,
                        help="seconds to run (default: forever)")
    parser.add_argument("--cluster", default=default_cluster, type=cluster,
                        help="local (one embedded node), local4 (four local nodes, one per node "
                             "class), auto or a Ray address")
    parser.add_argument("--workdir", help="where --paper writes keys, config and journals")


async def engine_session(
    args: argparse.Namespace,
    on_ready: Callable[[str | None, EngineConfig], None] | None = None,
    on_snapshot: Callable[[EngineSnapshot], None] | None = None,
) -> RunSummary:
    """Paper venues (if asked), Ray connection, the engine; everything torn down afterwards."""
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    from arbiter.app.config import load_config
    from arbiter.engine.live import connect, run_engine
    from arbiter.sim.launcher import PaperProcess

    reachable(args.cluster)
    venues: PaperProcess | None = None
    if args.paper:
        workdir = args.workdir or tempfile.mkdtemp(prefix="arbiter-paper-")
        venues = PaperProcess(workdir)
        await venues.start()
        config_path: str = str(venues.config_path)
    elif args.config:
        config_path = args.config
    else:
        raise UsageError("give --config FILE or --paper")
    try:
        config = load_config(config_path, dry_run=True if args.dry_run else None,
                             kalshi_demo=args.kalshi_demo)
        conn = connect(args.cluster, config.namespace)
        try:
            if on_ready is not None:
                on_ready(conn.dashboard_url, config)
            summary = await run_engine(config, args.duration, on_snapshot)
            summary.dashboard_url = conn.dashboard_url
            return summary
        finally:
            conn.close()
    finally:
        if venues is not None:
            await venues.stop()


def reachable(cluster: str, timeout_s: float = 3.0) -> None:
    """An address cluster must answer a TCP connect before Ray is asked: ``ray.init`` retries an
    unreachable GCS for minutes before it gives up. A :class:`ConnectionError` (exit 1) names
    the address."""
    if cluster in ("local", "local4", "auto"):
        return
    host, _, port = cluster.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Ray cluster at {cluster}: "
                              f"{exc.strerror or exc}") from None


def summary_record(summary: RunSummary) -> dict[str, Any]:
    sagas = summary.sagas
    return {
        "seconds": round(summary.seconds, 1), "layout": summary.layout,
        "opportunities": summary.opportunities, "trades": summary.trades,
        "completed": sagas.get("completed", 0), "hedged": sagas.get("hedged", 0),
        "unwound": sagas.get("unwound", 0), "failed": sagas.get("failed", 0),
        "no_fill": sagas.get("no_fill", 0), "refused": summary.refused,
        "realised_pnl": money_str(summary.pnl),
        "latency_p50_ms": round(summary.first_leg_ms.get("p50", 0.0), 3),
        "latency_p99_ms": round(summary.first_leg_ms.get("p99", 0.0), 3),
        "latency_samples": int(summary.first_leg_ms.get("n", 0)),
        "unfinished": sagas.get("unfinished", 0), "residuals": summary.residuals,
        "attention": summary.attention,
        "journal": summary.journal, "errors": summary.errors, "core": summary.core,
    }


def exit_code(summary: RunSummary) -> int:
    """1 on errors; :data:`EXIT_ATTENTION` when a *live* run left failed sagas, residuals or
    open sagas (real money is one-sided: the job must not end SUCCEEDED); else 0. Paper and
    dry runs say so in the summary and exit 0 (ADR 0172)."""
    if summary.errors:
        return 1
    if summary.attention and summary.mode == "live":
        return EXIT_ATTENTION
    return 0


def _core_line(core: dict[str, Any]) -> str:
    """Which build of the hot core the arbiter ran (ADR 0155)."""
    if not core:
        return "hot core: unknown (the arbiter did not report it)"
    if core.get("compiled"):
        return f"hot core: compiled ({core.get('build')})"
    return f"hot core: pure Python ({core.get('reason')})"


def summary_lines(summary: RunSummary) -> list[str]:
    r = summary_record(summary)
    return [
        f"ran {r['seconds']}s on the {r['layout']} layout",
        f"opportunities {r['opportunities']}; sagas completed {r['completed']}, hedged "
        f"{r['hedged']}, unwound {r['unwound']}, failed {r['failed']}, no fill {r['no_fill']}",
        f"realised PnL ${r['realised_pnl']}",
        f"detection -> first order p50 {r['latency_p50_ms']} ms, p99 {r['latency_p99_ms']} ms "
        f"over {r['latency_samples']} orders (in process; with under 100 the p99 is the slowest; "
        "bench/latency.py measures venue to venue)",
        _core_line(summary.core),
        *(f"ATTENTION: {a}" for a in summary.attention),
        *(f"error: {e}" for e in summary.errors),
    ]


def status_line(snap: EngineSnapshot) -> str:
    a = snap.arbiter
    return (f"[{snap.elapsed_s:6.1f}s] ticks {a.get('ticks', 0)} opportunities "
            f"{a.get('opportunities', 0)} sagas {a.get('sagas', {})} pnl "
            f"${money_str(int(a.get('pnl', 0)))}")


def _run(args: argparse.Namespace) -> int:
    last = [0.0]

    def ready(url: str | None, config: EngineConfig) -> None:
        from arbiter.engine.localcluster import dashboard_access

        print(f"arbiter run: {config.mode} mode, {len(config.pairs)} pairs, "
              f"{len(config.tenants)} tenant(s); Ray dashboard: {dashboard_access(url)}", flush=True)

    def snapshot(snap: EngineSnapshot) -> None:
        if snap.elapsed_s - last[0] >= 5.0:
            last[0] = snap.elapsed_s
            print(status_line(snap), flush=True)

    summary = asyncio.run(engine_session(args, ready, snapshot))
    for line in summary_lines(summary):
        print(line)
    if args.json:
        print(json.dumps(summary_record(summary)))
    code = exit_code(summary)
    if summary.errors:
        print("arbiter run: finished with errors", file=sys.stderr)
    elif summary.attention:
        print("arbiter run: finished; needs attention: " + "; ".join(summary.attention),
              file=sys.stderr)
    return code


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("run", help="run the live engine in the foreground")
    add_engine_options(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    parser.set_defaults(func=_run)

