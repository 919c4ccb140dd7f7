"""Parameter sweeps: many backtests of the same data as Ray tasks, ranked.

The event batch is put into the Ray object store once; every task receives the same object
reference, and its numpy columns are read zero-copy from shared memory, so no task reloads or
re-parses the data. Tasks return compact rows (parameters + headline figures + the result's
digest), never whole results, so the driver stays small however large the grid is.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from arbiter.backtest.analytics import summarize
from arbiter.backtest.events import EventBatch
from arbiter.backtest.replay import BacktestParams, Replayer
from arbiter.backtest.report import _STYLE, svg_bars
from arbiter.core.pairs import Pair
from arbiter.core.units import MONEY_SCALE

__all__ = ["evaluate", "grid", "random_points", "ranked", "ranked_text", "run_sweep",
           "write_results", "write_sweep_report"]

Progress = Callable[[int, int, Mapping[str, Any]], None]


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination, in a stable order (keys sorted)."""
    keys = sorted(space)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(list(space[k]) for k in keys))]


def random_points(space: Mapping[str, Sequence[Any]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct points drawn uniformly from the grid (all of it if smaller), seeded."""
    everything = grid(space)
    if n >= len(everything):
        return everything
    return random.Random(seed).sample(everything, n)


def evaluate(pairs: Sequence[Pair], events: EventBatch, base: Mapping[str, Any],
             point: Mapping[str, Any]) -> dict[str, Any]:
    """One backtest → one result row (the parameters, then the figures)."""
    params = BacktestParams.from_dict({**base, **point})
    start = time.perf_counter()
    result = Replayer(pairs, events, params).run()
    elapsed = time.perf_counter() - start
    s = summarize(result)
    pnl = sum(int(x["pnl"]) for x in result.sagas)
    row: dict[str, Any] = {k: point[k] for k in sorted(point)}
    row.update({
        "pnl_money": pnl, "pnl": s["pnl"], "sharpe": s["sharpe"], "sortino": s["sortino"],
        "max_drawdown": s["max_drawdown"], "trades": s["trades"], "win_rate": s["win_rate"],
        "fill_ratio": s["fill_ratio"], "hedge_frequency": s["hedge_frequency"],
        "fees": s["fees"], "fee_share": s["fee_share"], "digest": result.digest(),
        "events": result.events, "seconds": elapsed,
    })
    return row


def run_sweep(pairs: Sequence[Pair], events: EventBatch, points: Sequence[Mapping[str, Any]],
              base: Mapping[str, Any] | None = None, progress: Progress | None = None,
              num_cpus_per_task: float = 1.0) -> list[dict[str, Any]]:
    """Run every point as a Ray task over one shared copy of ``events``; rows in point order.

    Uses the current Ray connection; else the cluster named by ``RAY_ADDRESS`` (as under
    ``ray job submit``); else a fresh local Ray (never silently joining some other cluster that
    happens to run on the machine).
    """
    import os

    import ray

    from arbiter.engine.localcluster import ray_init  # local: token auth, loopback (ADR 0166)

    if not ray.is_initialized():
        ray_init(os.environ.get("RAY_ADDRESS") or "local", log_to_driver=False)
    base = dict(base or {})
    events_ref = ray.put(events)
    pairs_ref = ray.put(list(pairs))
    task: Any = ray.remote(num_cpus=num_cpus_per_task, max_retries=0)(evaluate)
    index = {}
    for i, point in enumerate(points):
        index[task.remote(pairs_ref, events_ref, base, dict(point))] = i
    rows: list[dict[str, Any] | None] = [None] * len(points)
    pending = list(index)
    done = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            row = ray.get(ref)
            rows[index[ref]] = row
            done += 1
            if progress is not None:
                progress(done, len(points), row)
    return [r for r in rows if r is not None]


def ranked(rows: Sequence[Mapping[str, Any]], by: str = "pnl_money",
           keys: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Best first; ties broken by fewer hedges, then by the values of the swept ``keys``."""
    return sorted((dict(r) for r in rows),
                  key=lambda r: (-r[by], r.get("hedge_frequency", 0), [str(r[k]) for k in keys]))


def ranked_text(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], top: int = 10) -> str:
    cols = [*keys, "pnl", "sharpe", "trades", "fill_ratio", "hedge_frequency"]
    table = [[str(c) for c in cols]]
    for r in ranked(rows, keys=keys)[:top]:
        table.append([f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols])
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     for row in table)


def write_results(rows: Sequence[Mapping[str, Any]], path: Path | str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0]) if rows else []
    pq.write_table(pa.table({c: [r[c] for r in rows] for c in cols}), out)
    return out


def write_sweep_report(rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
                       path: Path | str, top: int = 15) -> Path:
    """HTML: the ranked table and a bar chart of the best settings' PnL."""
    import html

    best = ranked(rows, keys=keys)[:top]
    labels = [" ".join(f"{k}={r[k]}" for k in keys) for r in best]
    chart = svg_bars([str(i + 1) for i in range(len(best))],
                     [r["pnl_money"] / MONEY_SCALE for r in best], "Best settings by PnL", "$")
    cols = [*keys, "pnl", "sharpe", "max_drawdown", "trades", "fill_ratio", "hedge_frequency"]
    body = "".join(
        "<tr><td>" + str(i + 1) + "</td>" + "".join(
            f"<td>{html.escape(f'{r[c]:.4f}' if isinstance(r[c], float) else str(r[c]))}</td>"
            for c in cols) + "</tr>"
        for i, r in enumerate(best))
    head = "<tr><th>#</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>arbiter sweep</title>"
            f"<style>{_STYLE}</style></head><body><h1>Sweep: {len(rows)} backtests</h1>"
            f"<div>{chart}</div><table>{head}{body}</table>"
            f"<p>{html.escape('; '.join(f'{i + 1}: {lab}' for i, lab in enumerate(labels)))}</p>"
            "</body></html>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
