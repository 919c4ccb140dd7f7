"""Chaos bench: kill -9 the executor at random instants of many sagas, restart, audit.

The local Kalshi and local Polymarket run in this process; the executor runs in a child process
(:mod:`tests.fault.executor_proc`) against them over HTTP. Each *run* reshapes the maker books
(thin first levels, so fills, partials and misses all happen; some Kalshi legs are rejected),
starts an executor that first recovers the journal left by the previous run and then trades a few
sagas, and kills it with SIGKILL: either at a random journal commit (just before or just after
it becomes durable) or after a random delay, or lets it finish. After the last run a final
executor recovers without trading, and the audit compares the venues' own order tables and
positions with the journal.

    python -m bench.chaos --runs 200 --json

prints ``runs, duplicate_orders, unknown_positions, unresolved_sagas, mean_recovery_ms`` (and
more) and writes bench/results/chaos.json.

    python -m bench.chaos --ray --runs 200 --json [--kinds arbiter,executor,node]

runs the Ray-level faults instead (:mod:`bench.chaos_ray`): ``kill -9`` of the arbiter actor, the
executor actor or a whole worker node mid-saga on a local multi-node cluster, with the duplicate
orders, unknown outcomes and unreported one-sided positions per fault kind
(bench/results/chaos_ray.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fault.harness import Venues, audit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "chaos.json"


_CTX: Any = None


def _context() -> Any:
    """A forkserver with the executor's modules imported once: each executor process is then a
    cheap fork of a warm interpreter, yet a separate process that SIGKILL really kills."""
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        _CTX.set_forkserver_preload(["tests.fault.executor_proc"])
    return _CTX


async def _child(venues_cfg: Path, journal: Path, report: Path, sagas: int, seed: int,
                 kill_at: int | None, kill_when: str, kill_after_s: float | None) -> int:
    from tests.fault.executor_proc import run_child

    argv = ["--venues", str(venues_cfg), "--journal", str(journal), "--sagas", str(sagas),
            "--seed", str(seed), "--report", str(report), "--kill-when", kill_when]
    if kill_at is not None:
        argv += ["--kill-at", str(kill_at)]
    proc = _context().Process(target=run_child, args=(argv,), daemon=True)
    proc.start()
    began = time.monotonic()
    try:
        killed = False
        while proc.exitcode is None:
            elapsed = time.monotonic() - began
            if kill_after_s is not None and not killed and elapsed >= kill_after_s:
                proc.kill()  # SIGKILL, like kill -9 from outside
                killed = True
            if elapsed > 120:
                raise RuntimeError("executor child hung")
            await asyncio.sleep(0.005)
        if proc.exitcode not in (0, -9):
            raise RuntimeError(f"executor child failed with exit code {proc.exitcode}")
        return int(proc.exitcode)
    finally:
        if proc.exitcode is None:
            proc.kill()
            proc.join(5)


async def run_chaos(runs: int, seed: int = 1, folder: Path | None = None,
                    sagas_per_run: int = 3, timer_kills: bool = True) -> dict[str, Any]:
    """``timer_kills=False`` keeps only kills at journal commits (deterministic: CI uses it)."""
    rng = random.Random(seed)
    own_tmp = None
    if folder is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="arbiter-chaos-")
        folder = Path(own_tmp.name)
    venues = await Venues.start(folder / "venues", seed=seed)
    journal = folder / "journal.db"
    report = folder / "report.jsonl"
    kills: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        cfg = venues.write_config()
        for run in range(runs):
            venues.reshape(rng)
            faults[venues.inject_faults(rng) or "none"] += 1
            mode = rng.random()
            kill_at: int | None = None
            kill_after: float | None = None
            when = "after"
            if mode < 0.55:
                kill_at = rng.randint(1, 3 * 9 + 2)
                when = rng.choice(["before", "after"])
            elif mode < 0.85 and timer_kills:
                kill_after = rng.uniform(0.2, 1.5)
            code = await _child(cfg, journal, report, sagas_per_run, seed * 100_000 + run,
                                kill_at, when, kill_after)
            kills["killed" if code == -9 else "finished"] += 1
        venues.reshape(rng)
        venues.kalshi_sim.faults.reset()
        venues.poly_sim.lose_order_responses = 0
        await _child(cfg, journal, report, 0, seed, None, "after", None)  # recover, trade nothing
        result = await audit(venues, journal)
    finally:
        await venues.stop()
    lines = [json.loads(x) for x in report.read_text().splitlines()]
    recoveries = [x["ms"] for x in lines if x["phase"] == "recovery" and x["sagas"]]
    rec_errors = [e for x in lines if x["phase"] == "recovery" for e in x["errors"]]
    endings: Counter[str] = Counter()
    with_journal_endings(journal, endings)
    out: dict[str, Any] = {
        "runs": runs,
        "duplicate_orders": result.duplicate_orders,
        "unknown_positions": result.unknown_positions,
        "unresolved_sagas": result.unresolved,
        "mean_recovery_ms": round(sum(recoveries) / len(recoveries), 1) if recoveries else 0.0,
        "max_recovery_ms": round(max(recoveries), 1) if recoveries else 0.0,
        "recoveries_with_work": len(recoveries),
        "recovery_errors": len(rec_errors),
        "sagas": result.sagas,
        "endings": dict(endings),
        "kills": kills["killed"],
        "clean_exits": kills["finished"],
        "venue_faults": dict(faults),
        "wall_s": round(time.perf_counter() - started, 1),
        "details": result.details[:20] + rec_errors[:5],
    }
    if own_tmp is not None:
        own_tmp.cleanup()
    return out


def with_journal_endings(path: Path, endings: Counter[str]) -> None:
    from arbiter.execution.journal import Journal

    with Journal(path) as j:
        endings.update(j.endings())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="kill -9 chaos test of the saga executor")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sagas-per-run", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ray", action="store_true",
                        help="Ray-level faults: kill -9 of actors and nodes (bench/chaos_ray.py)")
    parser.add_argument("--kinds", default="arbiter,executor,node",
                        help="with --ray: the fault kinds to cycle through")
    parser.add_argument("--progress", action="store_true", help="with --ray: a line per run")
    args = parser.parse_args(argv)
    if args.runs < 1:
        print("chaos: --runs must be at least 1", file=sys.stderr)
        return 2
    if args.ray:
        from bench.chaos_ray import main_ray

        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        return main_ray(args.runs, args.seed, kinds, args.json, args.progress)
    out = asyncio.run(run_chaos(args.runs, args.seed, sagas_per_run=args.sagas_per_run))
    for key in ("runs", "duplicate_orders", "unknown_positions", "unresolved_sagas",
                "mean_recovery_ms", "max_recovery_ms", "sagas", "kills", "wall_s"):
        print(f"{key:>20}: {out[key]}")
    print(f"{'endings':>20}: {out['endings']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out))
    ok = not (out["duplicate_orders"] or out["unknown_positions"] or out["unresolved_sagas"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
