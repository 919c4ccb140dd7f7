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
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arbiter.core.units import money_str
from arbiter.ops.errors import UsageError

if TYPE_CHECKING:  # the engine pulls in Ray: import it when a command runs, not for --help
    from arbiter.engine.bootstrap import EngineConfig
    from arbiter.engine.live import EngineSnapshot, RunSummary
    from arbiter.engine.paper import PaperProcess

__all__ = ["add_engine_options", "engine_session", "register", "summary_lines", "summary_record"]


def add_engine_options(parser: argparse.ArgumentParser, default_cluster: str = "local") -> None:
    parser.add_argument("--config", help="engine config (TOML); see docs/engine.md")
    parser.add_argument("--paper", action="store_true",
                        help="start both local venues (fake money) and trade against them")
    parser.add_argument("--dry-run", action="store_true", help="log orders, never send them")
    parser.add_argument("--kalshi-demo", action="store_true",
                        help="Kalshi demo environment (KALSHI_DEMO_* credentials)")
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: forever)")
    parser.add_argument("--cluster", default=default_cluster,
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
    from arbiter.engine.bootstrap import load_config
    from arbiter.engine.live import connect, run_engine
    from arbiter.engine.paper import PaperProcess

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
        "journal": summary.journal, "errors": summary.errors, "core": summary.core,
    }


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
        *(f"error: {e}" for e in summary.errors),
    ]


def _status_line(snap: EngineSnapshot) -> str:
    a = snap.arbiter
    return (f"[{snap.elapsed_s:6.1f}s] ticks {a.get('ticks', 0)} opportunities "
            f"{a.get('opportunities', 0)} sagas {a.get('sagas', {})} pnl "
            f"${money_str(int(a.get('pnl', 0)))}")


def _run(args: argparse.Namespace) -> int:
    last = [0.0]

    def ready(url: str | None, config: EngineConfig) -> None:
        print(f"arbiter run: {config.mode} mode, {len(config.pairs)} pairs, "
              f"{len(config.tenants)} tenant(s); Ray dashboard: {url or 'not running'}", flush=True)

    def snapshot(snap: EngineSnapshot) -> None:
        if snap.elapsed_s - last[0] >= 5.0:
            last[0] = snap.elapsed_s
            print(_status_line(snap), flush=True)

    summary = asyncio.run(engine_session(args, ready, snapshot))
    for line in summary_lines(summary):
        print(line)
    if args.json:
        print(json.dumps(summary_record(summary)))
    if summary.errors:
        print("arbiter run: finished with errors", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("run", help="run the live engine in the foreground")
    add_engine_options(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    parser.set_defaults(func=_run)

