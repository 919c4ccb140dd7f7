"""Performance figures of a backtest (or of a paper/live run read back from the engine store).

Money stays exact (integer ``Money`` units, shown as dollar strings); only ratios are floats,
and they are computed from the exact integers at the end. Returns are measured on the equity
step curve (starting cash plus the settlement-valued PnL of every finished saga), sampled per
day, or per hour when the run spans under ten days (a two-day backtest has one daily return and
no meaningful Sharpe). Annualisation uses 365 days: prediction markets trade every day.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Final

from arbiter.backtest.replay import BacktestResult
from arbiter.core.units import SIZE_SCALE, money_str

__all__ = ["drawdown_series", "equity_at", "pnl_by_pair", "summarize"]

DAY_NS: Final = 86_400 * 10**9
HOUR_NS: Final = 3_600 * 10**9
YEAR_DAYS: Final = 365


def equity_at(points: Sequence[tuple[int, int]], ts: int) -> int:
    """Value of the equity step curve at ``ts`` (last point at or before it)."""
    value = points[0][1]
    for t, v in points:
        if t > ts:
            break
        value = v
    return value


def _sampled(points: Sequence[tuple[int, int]], start: int, end: int, period: int) -> list[int]:
    out = []
    t = start
    i = 0
    value = points[0][1]
    while True:
        while i < len(points) and points[i][0] <= t:
            value = points[i][1]
            i += 1
        out.append(value)
        if t >= end:
            break
        t = min(t + period, end)
    return out


def drawdown_series(points: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(ts, drawdown money <= 0) at every equity point."""
    peak = None
    out = []
    for t, v in points:
        peak = v if peak is None else max(peak, v)
        out.append((t, v - peak))
    return out


def _max_drawdown(points: Sequence[tuple[int, int]]) -> tuple[int, float, int]:
    """(max drawdown money, as a fraction of the peak, longest underwater duration ns)."""
    if not points:
        return 0, 0.0, 0
    peak_v, peak_t = points[0][1], points[0][0]
    worst, worst_frac, longest = 0, 0.0, 0
    under_since: int | None = None
    for t, v in points:
        if v >= peak_v:
            if under_since is not None:
                longest = max(longest, t - under_since)
                under_since = None
            peak_v, peak_t = v, t
            continue
        if under_since is None:
            under_since = peak_t
        dd = v - peak_v
        if dd < worst:
            worst = dd
            worst_frac = dd / peak_v if peak_v else 0.0
    if under_since is not None:
        longest = max(longest, points[-1][0] - under_since)
    return worst, worst_frac, longest


def pnl_by_pair(sagas: Iterable[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for s in sagas:
        out[s["pair"]] += int(s["pnl"])
    return dict(sorted(out.items()))


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def summarize(result: BacktestResult) -> dict[str, Any]:
    """Every figure of the report as one JSON-ready dict (money as exact dollar strings)."""
    r = result
    points = r.equity or [(r.start_ns, r.initial_equity)]
    final = points[-1][1]
    span = max(1, r.end_ns - r.start_ns)
    days = span / DAY_NS
    total_return = _ratio(final - r.initial_equity, r.initial_equity)
    annualised = (1 + total_return) ** (YEAR_DAYS / days) - 1 if days > 0 and total_return > -1 else -1.0
    period = DAY_NS if days >= 10 else HOUR_NS
    samples = _sampled(points, r.start_ns, r.end_ns, period)
    rets = [_ratio(b - a, a) for a, b in itertools.pairwise(samples)]
    per_year = YEAR_DAYS * DAY_NS / period
    sharpe = sortino = 0.0
    if len(rets) >= 2:
        mean = sum(rets) / len(rets)
        var = sum((x - mean) ** 2 for x in rets) / (len(rets) - 1)
        sharpe = _ratio(mean, math.sqrt(var)) * math.sqrt(per_year)
        downside = math.sqrt(sum(min(0.0, x) ** 2 for x in rets) / len(rets))
        sortino = _ratio(mean, downside) * math.sqrt(per_year)
    dd_money, dd_frac, dd_ns = _max_drawdown(points)
    traded = [s for s in r.sagas if s["leg1_filled"]]
    pnls = sorted(int(s["pnl"]) for s in traded)
    wins = sum(1 for p in pnls if p > 0)
    fees = sum(int(s["fees"]) for s in r.sagas)
    pnl_total = sum(int(s["pnl"]) for s in r.sagas)
    gross = pnl_total + fees
    hedged = [s for s in traded if s["hedge_orders"]]
    slip = sum(int(s["leg2_slippage"]) for s in traded)
    leg2 = sum(int(s["leg2_filled"]) for s in traded)
    endings = Counter(s["ending"] for s in r.sagas)
    hold = sorted(int(s["finished_ns"]) - int(s["detected_ns"]) for s in r.sagas)
    return {
        "events": r.events,
        "start_ns": r.start_ns,
        "end_ns": r.end_ns,
        "days": round(days, 6),
        "initial_equity": money_str(r.initial_equity),
        "final_equity": money_str(final),
        "pnl": money_str(pnl_total),
        "total_return": total_return,
        "annualised_return": annualised,
        "sharpe": sharpe,
        "sortino": sortino,
        "return_period": "day" if period == DAY_NS else "hour",
        "max_drawdown": money_str(dd_money),
        "max_drawdown_pct": dd_frac,
        "max_drawdown_duration_s": dd_ns / 1e9,
        "opportunities": r.opportunities,
        "skipped_busy": r.skipped_busy,
        "risk_rejected": dict(r.risk_rejected),
        "sagas": len(r.sagas),
        "trades": len(traded),
        "endings": dict(sorted(endings.items())),
        "win_rate": _ratio(wins, len(traded)),
        "avg_trade_pnl": money_str(sum(pnls) // len(pnls)) if pnls else "0",
        "median_trade_pnl": money_str(pnls[len(pnls) // 2]) if pnls else "0",
        "best_trade": money_str(pnls[-1]) if pnls else "0",
        "worst_trade": money_str(pnls[0]) if pnls else "0",
        "avg_contracts": _ratio(sum(int(s["leg1_filled"]) for s in traded), len(traded) * SIZE_SCALE),
        "median_saga_ms": hold[len(hold) // 2] / 1e6 if hold else 0.0,
        "fees": money_str(fees),
        "fee_share": _ratio(fees, gross) if gross > 0 else 0.0,
        "orders": r.orders,
        "fill_ratio": _ratio(r.filled_size, r.requested_size),
        "leg2_slippage": money_str(slip),
        "leg2_slippage_per_contract": money_str(slip * SIZE_SCALE // leg2) if leg2 else "0",
        "hedge_frequency": _ratio(len(hedged), len(traded)),
        "hedge_cost": money_str(sum(int(s["hedge_cost"]) for s in hedged)),
        "pnl_by_pair": {k: money_str(v) for k, v in pnl_by_pair(r.sagas).items()},
        "rejected_updates": r.rejected_updates,
    }
