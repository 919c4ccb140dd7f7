"""The compiled hot core against the pure sources, in one run, on the existing benchmarks.

    python -m bench.compiled [--json] [--rounds 2] [--cython] [--latency] [--core-events N]
                             [--backtest-events N]

Each build runs the same benchmark in its own interpreter, interleaved round by round (pure,
mypyc, [cython], pure, mypyc, ...) so that a shared machine's drift hits every build alike, and
the best round of each is kept:

* ``bench.core``: book update + incremental detection per event (events/s, per-event p50/p99);
* ``bench.backtest``: the full replay (books → detection → risk → saga → simulated exchanges)
  and, on the same rows, books only; the result digest must be the same for every build;
* ``--latency``: ``bench.latency`` (the live tick path on a local Ray cluster, venue to venue);
  the Ray workers inherit the build choice through the environment.

``pure`` is ``ARBITER_PURE=1``; ``mypyc`` is the build ``make venv`` installed (it must be current:
``python -m arbiter.compile_core --check``); ``cython`` (where Cython is importable) builds the same
modules with Cython into a scratch directory (``arbiter.compile_core --compiler cython``) and
points ``ARBITER_NATIVE_DIR`` at it. The benchmarks run from a scratch copy of ``bench/`` so their
own ``bench/results/*.json`` are not overwritten; this writes ``bench/results/compiled.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from arbiter.core.native import NATIVE_DIR_ENV, PURE_ENV

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "compiled.json"
#: ask each child which build it imported, so a figure is never attributed to the wrong one
_PROBE = "import json, arbiter.core as c; print(json.dumps(c.compiled().as_dict()))"


def _env(build: str, native_dirs: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (PURE_ENV, NATIVE_DIR_ENV)}
    if build == "pure":
        env[PURE_ENV] = "1"
    elif build in native_dirs:
        env[NATIVE_DIR_ENV] = native_dirs[build]
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return record


def _check_build(build: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record's own ``core`` (for bench.latency: the arbiter actor's) must be ``build``."""
    core = record.get("core") or {}
    if core.get("compiled") != (build != "pure") or (
            build != "pure" and not str(core.get("build", "")).startswith(build)):
        raise SystemExit(f"bench.compiled: the {build} run reported core {core}")
    return record


def _best(runs: list[dict[str, Any]], key: str, low: bool = False) -> Any:
    values = [r[key] for r in runs]
    return min(values) if low else max(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compiled", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--core-events", type=int, default=400_000)
    parser.add_argument("--backtest-events", type=int, default=1_000_000)
    parser.add_argument("--cython", action="store_true",
                        help="also build and measure the Cython alternative (needs Cython)")
    parser.add_argument("--latency", action="store_true",
                        help="also run bench.latency (local Ray cluster) for each build")
    parser.add_argument("--latency-samples", type=int, default=500)
    parser.add_argument("--latency-nodes", type=int, default=1)
    args = parser.parse_args(argv)

    builds = ["pure", "mypyc"]
    native_dirs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="arbiter-bench-compiled-") as tmp:
        scratch = Path(tmp)
        shutil.copytree(ROOT / "bench", scratch / "bench", ignore=shutil.ignore_patterns(
            "results", "__pycache__"))
        if args.cython:
            if importlib.util.find_spec("Cython") is None:
                parser.error("--cython: Cython is not importable here")
            subprocess.run([sys.executable, "-m", "arbiter.compile_core", "--compiler", "cython",
                            "--dest", str(scratch / "cython")], check=True, capture_output=True)
            native_dirs["cython"] = str(scratch / "cython")
            builds.append("cython")
        loaded = {b: _run(["-c", _PROBE], _env(b, native_dirs), scratch, 60) for b in builds}
        for build, info in loaded.items():
            if (build == "pure") == info["compiled"]:
                raise SystemExit(f"bench.compiled: the {build} run imported "
                                 f"{'a compiled' if info['compiled'] else 'the pure'} core: "
                                 f"{info['reason']} (run make venv)")
        core: dict[str, list[dict[str, Any]]] = {b: [] for b in builds}
        backtest: dict[str, list[dict[str, Any]]] = {b: [] for b in builds}
        latency: dict[str, list[dict[str, Any]]] = {b: [] for b in builds}
        for round_no in range(args.rounds):
            for build in builds:
                env = _env(build, native_dirs)
                core[build].append(_check_build(build, _run(
                    ["-m", "bench.core", "--json", "--events", str(args.core_events)],
                    env, scratch, 1800)))
                backtest[build].append(_check_build(build, _run(
                    ["-m", "bench.backtest", "--json", "--events", str(args.backtest_events),
                     "--repeat", "2"], env, scratch, 3600)))
                if args.latency:
                    record = _run(
                        ["-m", "bench.latency", "--json", "--samples", str(args.latency_samples),
                         "--nodes", str(args.latency_nodes)], env, scratch, 3600)
                    latency[build].append(_check_build(build, record))
                print(f"round {round_no + 1}/{args.rounds} {build}: core "
                      f"{core[build][-1]['events_per_s']:,}/s, backtest "
                      f"{backtest[build][-1]['events_per_s']:,}/s, books only "
                      f"{backtest[build][-1]['books_only_events_per_s']:,}/s", flush=True)
    figures: dict[str, Any] = {"builds": {}, "rounds": args.rounds,
                               "core_events": args.core_events,
                               "backtest_events": args.backtest_events,
                               "python": sys.version.split()[0], "cpus": os.cpu_count(),
                               "load_average_1m": round(os.getloadavg()[0], 2)}
    digests = {b: {r["digest"] for r in backtest[b]} for b in builds}
    for build in builds:
        entry: dict[str, Any] = {
            "loaded": loaded[build],
            "core_events_per_s": _best(core[build], "events_per_s"),
            "core_p50_us": _best(core[build], "p50_us", low=True),
            "core_p99_us": _best(core[build], "p99_us", low=True),
            "core_opportunities": core[build][0]["opportunities"],
            "backtest_events_per_s": _best(backtest[build], "events_per_s"),
            "books_only_events_per_s": _best(backtest[build], "books_only_events_per_s"),
            "backtest_digest": sorted(digests[build]),
            "all_rounds": {"core": [r["events_per_s"] for r in core[build]],
                           "backtest": [r["events_per_s"] for r in backtest[build]],
                           "books_only": [r["books_only_events_per_s"] for r in backtest[build]]},
        }
        if latency[build]:
            entry["tick_path_p50_ms"] = _best(latency[build], "p50_ms", low=True)
            entry["tick_path_p99_ms"] = _best(latency[build], "p99_ms", low=True)
            entry["all_rounds"]["tick_path_p50_p99_ms"] = [
                (r["p50_ms"], r["p99_ms"]) for r in latency[build]]
        figures["builds"][build] = entry
    pure = figures["builds"]["pure"]
    figures["same_results"] = (
        len({frozenset(d) for d in digests.values()}) == 1
        and all(len(d) == 1 for d in digests.values())
        and len({figures["builds"][b]["core_opportunities"] for b in builds}) == 1)
    figures["books_only_floor_events_per_s"] = 3_000_000
    for build in builds:
        entry = figures["builds"][build]
        entry["speedup"] = {k: round(entry[k] / pure[k], 2) for k in (
            "core_events_per_s", "backtest_events_per_s", "books_only_events_per_s")}
        entry["meets_books_only_floor"] = entry["books_only_events_per_s"] >= 3_000_000
        line = (f"{build:>6}: core {entry['core_events_per_s']:,}/s (p50 {entry['core_p50_us']} us, "
                f"p99 {entry['core_p99_us']} us); backtest {entry['backtest_events_per_s']:,}/s; "
                f"books only {entry['books_only_events_per_s']:,}/s; x{entry['speedup']}")
        if "tick_path_p50_ms" in entry:
            line += f"; tick path p50 {entry['tick_path_p50_ms']} ms p99 {entry['tick_path_p99_ms']} ms"
        print(line)
    print(f"same results in every build: {figures['same_results']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    if args.json:
        print(json.dumps(figures))
    return 0 if figures["same_results"] else 1


if __name__ == "__main__":
    sys.exit(main())
