"""``arbiter record | backtest | sweep | export``: the backtesting capability on the command line.

The Ray job entrypoints (``jobs/backtest.py``, ``jobs/sweep.py``) call the same functions, so a
sweep submitted with ``ray job submit`` and one run locally are the same code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arbiter.cli.argtypes import count, number, seconds
from arbiter.cli.errors import UsageError
from arbiter.telemetry.logging import ray_runtime_env

__all__ = ["PAIRS_FILE", "register"]

#: the pairs file ``arbiter record --source synthetic`` writes into its ``--out``; ``backtest`` and
#: ``sweep`` read it when ``--data`` is given without ``--pairs``
PAIRS_FILE = "pairs.toml"


def _inputs(args: argparse.Namespace, stream: bool = False) -> tuple[Any, Any]:
    from arbiter.backtest.inputs import InputError, load_inputs

    pairs = args.pairs
    if pairs is None and args.data and (Path(args.data) / PAIRS_FILE).is_file():
        pairs = str(Path(args.data) / PAIRS_FILE)  # the one `arbiter record` wrote beside the data
    try:
        return load_inputs(args.data, args.synthetic, pairs, args.start, args.end, stream=stream)
    except InputError as exc:
        raise UsageError(str(exc)) from None


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="recorded event store (the --out of `arbiter record`)")
    p.add_argument("--synthetic", metavar="SPEC",
                   help="synthetic data instead, e.g. events=200000,pairs=8,days=2,seed=1")
    p.add_argument("--pairs", help="pairs TOML (with --data; default: the pairs.toml that "
                                   "`arbiter record --source synthetic` wrote into it)")
    p.add_argument("--start", help="first instant (ISO 8601 UTC or ns)")
    p.add_argument("--end", help="end instant, exclusive")


# -- backtest ------------------------------------------------------------------------------------


def _backtest(args: argparse.Namespace) -> int:
    from arbiter.backtest.inputs import InputError, parse_assignments
    from arbiter.backtest.replay import BacktestParams, Replayer
    from arbiter.backtest.report import write_report
    from arbiter.backtest.storage import EngineStore

    pairs, events = _inputs(args, stream=True)  # a recorded store streams: bounded memory
    try:
        values = parse_assignments(args.param or [])
        latencies = [float(x) for x in args.latency_sweep.split(",")] if args.latency_sweep else []
    except (InputError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    params = BacktestParams.from_dict(values)
    started = time.perf_counter()
    try:
        result = Replayer(pairs, events, params).run()
        elapsed = time.perf_counter() - started
        curve: list[tuple[float, int]] = []
        for ms in latencies:
            spec = f"fixed:{ms:g}"
            variant = BacktestParams.from_dict({**params.to_dict(), "latency_kalshi": spec,
                                               "latency_polymarket": spec})
            r = Replayer(pairs, events, variant).run()
            curve.append((ms, sum(int(s["pnl"]) for s in r.sagas)))
    except InputError as exc:  # a store unreadable part-way through the stream
        raise UsageError(str(exc)) from None
    if args.store:
        _store_result(EngineStore(args.store), args.run, result)
    if args.report:
        summary = write_report(args.report, result, curve or None)
    else:
        from arbiter.backtest.analytics import summarize

        summary = summarize(result)
    summary["digest"] = result.digest()
    summary["events_per_s"] = round(result.events / elapsed) if elapsed > 0 else 0
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(f"backtest: {result.events:,} events in {elapsed:.2f}s "
              f"({summary['events_per_s']:,}/s); {summary['sagas']} sagas, PnL ${summary['pnl']}, "
              f"fill ratio {summary['fill_ratio']:.3f}, hedges {summary['hedge_frequency']:.3f}")
        if args.report:
            print(f"report: {args.report} (+ {Path(args.report).with_suffix('.json')})")
    return 0


def _store_result(store: Any, run: str, result: Any) -> None:
    """Decisions, fills and saga outcomes of a run into the engine store (for comparisons)."""
    with store:
        store.insert("decisions", [{**d, "run": run} for d in result.decisions])
        store.insert("fills", [{**f, "run": run} for f in result.fills])
        store.insert("sagas", [{
            "ts_ns": s["detected_ns"], "run": run, "saga_id": s["saga_id"], "pair": s["pair"],
            "direction": s["direction"], "ending": s["ending"], "pnl": s["pnl"],
            "detail": json.dumps(s, sort_keys=True)} for s in result.sagas])


# -- sweep ---------------------------------------------------------------------------------------


def _sweep(args: argparse.Namespace) -> int:
    from arbiter.backtest.inputs import InputError, parse_assignments, parse_space
    from arbiter.backtest.sweep import (
        grid,
        random_points,
        ranked,
        ranked_text,
        run_sweep,
        write_results,
        write_sweep_report,
    )

    pairs, events = _inputs(args)
    try:
        space = parse_space(args.grid or [])
        base = parse_assignments(args.param or [])
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if not space:
        raise UsageError("give at least one --grid NAME=V1,V2 axis")
    points = random_points(space, args.random, args.seed) if args.random else grid(space)
    keys = sorted(space)
    out = Path(args.out)
    started = time.perf_counter()

    def progress(done: int, total: int, row: Mapping[str, Any]) -> None:
        shown = " ".join(f"{k}={row[k]}" for k in keys)
        print(f"sweep: {done}/{total} done ({time.perf_counter() - started:.1f}s) {shown} -> "
              f"PnL {row['pnl']}", flush=True)

    import os

    import ray

    from arbiter.engine.localcluster import ray_init  # local: token auth, loopback (ADR 0166)

    if not ray.is_initialized():  # the cluster run_sweep would pick, with our worker logging
        ray_init(args.address or os.environ.get("RAY_ADDRESS") or "local",
                 log_to_driver=False, runtime_env=ray_runtime_env())
    print(f"sweep: {len(points)} backtests over {len(events):,} events", flush=True)
    rows = run_sweep(pairs, events, points, base, progress)
    write_results(rows, out / "results.parquet")
    write_sweep_report(rows, keys, out / "sweep.html")
    best = ranked(rows, keys=keys)
    (out / "best.json").write_text(json.dumps(best[:10], indent=2, sort_keys=True) + "\n")
    print(ranked_text(rows, keys))
    print(f"sweep: results {out / 'results.parquet'}, report {out / 'sweep.html'}")
    return 0


# -- record --------------------------------------------------------------------------------------


def _record(args: argparse.Namespace) -> int:
    from arbiter.backtest.recorder import record, synthetic_source
    from arbiter.backtest.storage import EngineStore, EventWriter

    out = Path(args.out)
    if args.source == "synthetic":
        from arbiter.backtest.inputs import InputError, parse_synthetic

        try:
            cfg = parse_synthetic(args.synthetic or "")
        except InputError as exc:
            raise UsageError(str(exc)) from None
        source = synthetic_source(cfg, args.speed)
        closer = None
        from arbiter.backtest.synthetic import make_pairs, pairs_toml

        pairs_text = pairs_toml(make_pairs(cfg.pairs)) + "\n"
    else:
        if not args.config:
            raise UsageError("--source venues needs --config ENGINE.toml (endpoints and pairs)")
        from arbiter.app.config import load_config
        from arbiter.backtest.recorder import venue_source

        # a bad config is a ConfigError: exit 2 with its one line (cli.main)
        pairs_text = load_config(args.config).pairs_toml  # the reviewed file, verbatim
        source, closer = venue_source(args.config)
    # the replay needs the pairs the events belong to: write them beside the events, so
    # `arbiter record ... && arbiter backtest --data OUT` needs nothing else
    out.mkdir(parents=True, exist_ok=True)
    pairs_path = out / PAIRS_FILE
    tmp = pairs_path.with_suffix(".toml.tmp")
    tmp.write_text(pairs_text, encoding="utf-8")
    tmp.replace(pairs_path)

    async def go() -> Any:
        writer = EventWriter(out, flush_rows=args.flush_rows)
        try:
            with EngineStore(out / "engine.sqlite") as store:
                return await record(source, writer, store, duration_s=args.duration)
        finally:
            if closer is not None:
                await closer()

    stats = asyncio.run(go())
    print(f"record: {stats.rows:,} rows ({stats.trades:,} trades) into {out} in {stats.files} files")
    print(f"record: pairs in {pairs_path} (arbiter backtest --data {out})")
    return 0


# -- export --------------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    from arbiter.backtest.inputs import InputError, parse_time
    from arbiter.backtest.storage import EngineStore, EventStore, StorageError

    try:
        start, end = parse_time(args.start), parse_time(args.end)
        if args.stream == "events":
            n = EventStore(args.data).export(args.out, args.format, start, end)
        else:
            db = Path(args.data) / "engine.sqlite" if Path(args.data).is_dir() else Path(args.data)
            if not db.exists():
                raise UsageError(f"no engine store at {db}")
            with EngineStore(db) as store:
                n = store.export(args.stream, args.out, args.format, start, end)
    except (InputError, StorageError) as exc:
        raise UsageError(str(exc)) from None
    print(f"export: {n:,} rows of {args.stream} to {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("record", help="record both venues' normalised events to Parquet")
    p.add_argument("--out", required=True, help="event store directory")
    p.add_argument("--duration", type=seconds(), default=None,
                   help="seconds to record (default: until the source ends)")
    p.add_argument("--source", choices=("synthetic", "venues"), default="venues")
    p.add_argument("--config", help="engine config (endpoints + pairs) for --source venues")
    p.add_argument("--synthetic", default="", help="synthetic spec for --source synthetic")
    p.add_argument("--speed", type=number("a pace", inclusive=True), default=0.0,
                   help="synthetic pacing: x real time (0 = flat out)")
    p.add_argument("--flush-rows", type=count(), default=50_000)
    p.set_defaults(func=_record)

    p = sub.add_parser("backtest", help="deterministic replay through the live execution path")
    _add_inputs(p)
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="backtest parameter (min_edge, max_slippage, leg_order, latency_kalshi, ...)")
    p.add_argument("--report", metavar="OUT.html", help="write the HTML report (+ OUT.json)")
    p.add_argument("--latency-sweep", metavar="MS,MS,...",
                   help="also rerun at these fixed order round-trip latencies for the sensitivity plot")
    p.add_argument("--store", help="also write decisions/fills/sagas to this SQLite engine store")
    p.add_argument("--run", default="backtest", help="run label in --store")
    p.add_argument("--json", action="store_true", help="print the JSON summary")
    p.set_defaults(func=_backtest)

    p = sub.add_parser("sweep", help="grid/random search of backtests as Ray tasks")
    _add_inputs(p)
    p.add_argument("--grid", action="append", metavar="NAME=V1,V2", help="one search axis")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="fixed parameter")
    p.add_argument("--random", type=count(0), default=0, help="sample this many grid points")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument("--address", help="Ray address (default: RAY_ADDRESS or a local Ray)")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("export", help="export a stored stream for a time range")
    p.add_argument("--data", required=True, help="event store directory (or engine SQLite file)")
    p.add_argument("--stream", default="events",
                   choices=("events", "market_trades", "decisions", "fills", "sagas"))
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_export)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
