"""``arbiter demo``: what ``make demo`` runs.

The live demo: a local Ray cluster, both local venues quoting the same markets with arbitrage
windows (:mod:`arbiter.sim.launcher`), and the engine trading them with fake money, shown in a
terminal view (books, opportunities, sagas, PnL, latency) for ``--seconds`` (``DEMO_SECONDS``,
default 60). It ends with a summary and exits 0; the Ray dashboard URL is printed first.

``--offline`` keeps the original demo: a scan of the bundled snapshot, no venues, no Ray.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import tempfile
from importlib import resources
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from arbiter.cli.argtypes import seconds
from arbiter.cli.errors import UsageError
from arbiter.cli.run import engine_session, summary_lines
from arbiter.cli.scan import refuse_untradable, run_scan
from arbiter.core.detection import DetectionConfig
from arbiter.core.pairs import Pair, parse_pairs
from arbiter.core.units import money_str, price_str, size_str
from arbiter.telemetry.logging import LOG_FILE_ENV, setup

if TYPE_CHECKING:  # the engine pulls in Ray: import it when the demo runs, not for --help
    from arbiter.app.config import EngineConfig
    from arbiter.engine.live import EngineSnapshot

__all__ = ["register"]


def _offline(args: argparse.Namespace) -> int:
    data = resources.files("arbiter.data")
    pairs = parse_pairs((data / "sample_pairs.toml").read_text(encoding="utf-8"), "sample_pairs.toml",
                        require_review=True)
    snapshot = json.loads((data / "sample_snapshot.json").read_text(encoding="utf-8"))
    refuse_untradable(pairs, "sample_pairs.toml")
    print(f"arbiter demo: scanning the bundled snapshot for {len(pairs)} pairs "
          "(Kalshi taker fees 0.07 x C x P x (1-P), rounded up to the cent; Polymarket taker "
          "fees C x rate x P x (1-P) at each market's category rate, per match)")
    lines = io.StringIO()
    found = run_scan(pairs, snapshot, DetectionConfig(), lines)
    for opp in found:
        legs = " + ".join(
            f"{leg.venue} {leg.outcome.value.upper()} up to {price_str(leg.limit_price)}"
            for leg in opp.legs
        )
        print(f"  {opp.pair:<20} {opp.direction:<20} {size_str(opp.size):>5} contracts: {legs}; "
              f"cost ${money_str(opp.cost)}, fees ${money_str(opp.fees)}, "
              f"locked profit ${money_str(opp.profit)}")
    total = sum(o.profit for o in found)
    print(f"found {len(found)} opportunities, ${money_str(total)} of locked profit in total")
    if args.json:
        print(lines.getvalue(), end="")
    return 0


class DemoView:
    """Renders one :class:`EngineSnapshot` as panels; rich does the redrawing."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.pairs: list[Pair] = []
        self.mode = "paper"
        self.dashboard: str | None = None
        self.snapshot: EngineSnapshot | None = None

    def ready(self, url: str | None, config: EngineConfig) -> None:
        self.dashboard = url
        self.pairs = config.pairs
        self.mode = config.mode

    def render(self) -> Group:
        snap = self.snapshot
        head = Table.grid(padding=(0, 2))
        elapsed = snap.elapsed_s if snap else 0.0
        layout = snap.layout if snap else "starting"
        head.add_row(f"[bold]arbiter demo[/] {self.mode} money, {layout} layout",
                     f"{elapsed:5.1f}s / {self.seconds:.0f}s",
                     f"dashboard {self.dashboard or '-'}")
        if snap is None:
            return Group(Panel(head), "waiting for the engine (recovery, subscriptions)...")
        a = snap.arbiter
        books = Table(title="books (best bid / ask of YES)", expand=True)
        for col in ("pair", "Kalshi", "Polymarket YES", "Polymarket NO"):
            books.add_column(col)
        kq = snap.books.get("kalshi", {})
        pq = snap.books.get("polymarket", {})
        for pair in self.pairs:
            books.add_row(pair.name, _q(kq.get(pair.kalshi_ticker)),
                          _q(pq.get(pair.polymarket_yes_token)), _q(pq.get(pair.polymarket_no_token)))
        stats = Table.grid(padding=(0, 3))
        sagas = a.get("sagas", {})
        lat = a.get("first_leg_ms", {})
        stats.add_row("ticks", str(a.get("ticks", 0)), "opportunities", str(a.get("opportunities", 0)),
                      "admitted", str(a.get("admitted", 0)))
        stats.add_row("completed", str(sagas.get("completed", 0)), "hedged", str(sagas.get("hedged", 0)),
                      "unwound", str(sagas.get("unwound", 0)))
        stats.add_row("failed", str(sagas.get("failed", 0)), "no fill", str(sagas.get("no_fill", 0)),
                      "realised PnL", f"${money_str(int(a.get('pnl', 0)))}")
        stats.add_row("detect->order p50", f"{lat.get('p50', 0):.3f} ms", "p99",
                      f"{lat.get('p99', 0):.3f} ms", "risk", _risk(snap.risk))
        recent = Table(title="recent sagas", expand=True)
        for col in ("saga", "pair", "direction", "outcome", "pnl"):
            recent.add_column(col)
        for r in list(a.get("recent", []))[-8:]:
            recent.add_row(str(r["saga"]), str(r["pair"]), str(r["direction"]), str(r["outcome"]),
                           f"${money_str(int(r['pnl']))}")
        return Group(Panel(head), books, Panel(stats, title="engine"), recent)


def _q(quote: dict[str, Any] | None) -> str:
    if not quote:
        return "-"
    return f"{quote.get('bid') or '-'} / {quote.get('ask') or '-'}"


def _risk(snapshot: dict[str, Any]) -> str:
    tenants = snapshot.get("tenants", {})
    killed = [name for name, t in tenants.items() if t.get("killed")]
    return f"kill switch: {', '.join(killed)}" if killed else "ok"


async def _live_demo(args: argparse.Namespace) -> int:
    console = Console()
    view = DemoView(args.seconds)
    session_args = argparse.Namespace(
        config=None, paper=True, dry_run=False, kalshi_demo=False, duration=args.seconds,
        cluster=args.cluster, workdir=args.workdir or tempfile.mkdtemp(prefix="arbiter-demo-"),
    )
    # the JSON logs go to a file so the terminal view stays readable; the local venues' process
    # and the Ray workers inherit the variable and append to the same file (ADR 0143)
    log_file = getattr(args, "log_file", None) or os.environ.get(LOG_FILE_ENV) \
        or os.path.join(session_args.workdir, "arbiter.log")
    os.environ[LOG_FILE_ENV] = log_file
    setup(getattr(args, "log_format", None), getattr(args, "log_level", None), log_file)

    def ready(url: str | None, config: EngineConfig) -> None:
        from arbiter.engine.localcluster import dashboard_access

        view.ready(url, config)
        console.print(f"Ray dashboard: {dashboard_access(url)}  (paper venues and journal in "
                      f"{session_args.workdir}; logs in {log_file})")

    with Live(view.render(), console=console, refresh_per_second=4, transient=False) as live:
        def on_snapshot(snap: EngineSnapshot) -> None:
            view.snapshot = snap
            live.update(view.render())

        summary = await engine_session(session_args, ready, on_snapshot)
    console.print(Panel("\n".join(summary_lines(summary)), title="summary"))
    if summary.dashboard_url:
        console.print(f"(the dashboard at {summary.dashboard_url} stopped with the cluster)")
    return 0 if not summary.errors else 1


def _demo(args: argparse.Namespace) -> int:
    if args.offline:
        return _offline(args)
    if args.seconds <= 0:
        raise UsageError("--seconds must be positive")
    if args.cluster not in ("local", "local4"):
        raise UsageError("--cluster must be local or local4")
    return asyncio.run(_live_demo(args))


def _default_seconds() -> float:
    try:
        return float(os.environ.get("DEMO_SECONDS", "60"))
    except ValueError:
        return 60.0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("demo", help="live paper-money demo on local venues (or --offline)")
    parser.add_argument("--offline", action="store_true",
                        help="scan the bundled snapshot instead (no venues, no Ray)")
    parser.add_argument("--seconds", type=seconds(), default=_default_seconds(),
                        help="how long the live demo runs (default: $DEMO_SECONDS or 60)")
    parser.add_argument("--cluster", default=os.environ.get("CLUSTER") or "local",
                        help="local (one node) or local4 (four local nodes, one per node class)")
    parser.add_argument("--workdir", help="where the paper venues write keys, config and journal")
    parser.add_argument("--json", action="store_true", help="--offline: also print the JSON records")
    parser.set_defaults(func=_demo)
