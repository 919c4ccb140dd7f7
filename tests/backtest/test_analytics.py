"""Analytics on a hand-made result whose figures are known exactly."""

from __future__ import annotations

import math
from typing import Any

from arbiter.backtest.analytics import HOUR_NS, drawdown_series, summarize
from arbiter.backtest.replay import BacktestResult
from arbiter.core.units import MONEY_SCALE, SIZE_SCALE

D = MONEY_SCALE  # one dollar


def saga(pair: str, pnl: int, fees: int, hedges: int = 0, slip: int = 0, leg1: int = 10) -> dict[str, Any]:
    return {"saga_id": f"s-{pair}-{pnl}", "pair": pair, "direction": "d", "detected_ns": 0,
            "finished_ns": 5_000_000, "size": 10 * SIZE_SCALE, "first_venue": "polymarket",
            "leg1_filled": leg1 * SIZE_SCALE, "leg2_filled": leg1 * SIZE_SCALE,
            "expected_profit": pnl, "pnl": pnl, "ending": "completed" if not hedges else "hedged",
            "fees": fees, "cost": 0, "hedge_orders": hedges, "hedge_cost": D if hedges else 0,
            "leg2_slippage": slip, "residual": 0}


def make() -> BacktestResult:
    r = BacktestResult({}, 1000, 0, 0, 4 * HOUR_NS, 100 * D)
    # equity: 100 -> 120 (h1) -> 90 (h2) -> 130 (h3), flat to h4
    r.equity = [(0, 100 * D), (HOUR_NS, 120 * D), (2 * HOUR_NS, 90 * D), (3 * HOUR_NS, 130 * D),
                (4 * HOUR_NS, 130 * D)]
    r.sagas = [saga("a", 20 * D, 2 * D), saga("b", -30 * D, 1 * D, hedges=1, slip=D),
               saga("a", 40 * D, 1 * D), saga("c", 0, 0, leg1=0)]
    r.requested_size, r.filled_size = 40 * SIZE_SCALE, 30 * SIZE_SCALE
    return r


def test_known_figures() -> None:
    s = summarize(make())
    assert s["final_equity"] == "130" and s["pnl"] == "30"
    assert math.isclose(s["total_return"], 0.3)
    assert s["max_drawdown"] == "-30" and math.isclose(s["max_drawdown_pct"], -0.25)
    assert s["max_drawdown_duration_s"] == 2 * 3600  # peak at h1, recovered at h3
    assert s["trades"] == 3 and math.isclose(s["win_rate"], 2 / 3)
    assert s["best_trade"] == "40" and s["worst_trade"] == "-30" and s["median_trade_pnl"] == "20"
    assert s["fees"] == "4" and math.isclose(s["fee_share"], 4 / 34)
    assert math.isclose(s["fill_ratio"], 0.75)
    assert math.isclose(s["hedge_frequency"], 1 / 3) and s["hedge_cost"] == "1"
    assert s["leg2_slippage"] == "1" and s["leg2_slippage_per_contract"] == "0.0333333333"
    assert s["pnl_by_pair"] == {"a": "60", "b": "-30", "c": "0"}
    rets = [0.2, -0.25, 130 / 90 - 1, 0.0]
    mean = sum(rets) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in rets) / 3)
    assert math.isclose(s["sharpe"], mean / sd * math.sqrt(365 * 24))
    down = math.sqrt(0.25**2 / 4)
    assert math.isclose(s["sortino"], mean / down * math.sqrt(365 * 24))
    assert s["return_period"] == "hour"


def test_drawdown_series() -> None:
    assert [v // D for _, v in drawdown_series(make().equity)] == [0, 0, -30, 0, 0]
