"""The run/demo summary: figures an operator reads at the end of a run."""

from __future__ import annotations

from arbiter.cli.run import summary_lines, summary_record
from arbiter.core.units import MONEY_SCALE
from arbiter.engine.live import RunSummary


def _summary(first_leg_ms: dict[str, float]) -> RunSummary:
    return RunSummary(
        seconds=30.04, layout="single-node", opportunities=34,
        sagas={"completed": 15, "unwound": 2, "no_fill": 17}, refused={}, pnl=317 * MONEY_SCALE // 100,
        first_leg_ms=first_leg_ms, journal={}, stop={},
    )


def test_latency_line_says_how_many_orders_its_percentiles_cover() -> None:
    lines = summary_lines(_summary({"p50": 0.4081, "p99": 49.593, "n": 32}))
    assert "sagas completed 15, hedged 0, unwound 2, failed 0, no fill 17" in lines[1]
    assert lines[2] == "realised PnL $3.17"
    assert "p50 0.408 ms, p99 49.593 ms over 32 orders" in lines[3]
    assert "with under 100 the p99 is the slowest" in lines[3]


def test_a_run_without_orders_reports_zero_samples() -> None:
    record = summary_record(_summary({}))
    assert (record["latency_p50_ms"], record["latency_p99_ms"], record["latency_samples"]) == (0.0, 0.0, 0)


def test_a_live_run_with_a_residual_says_so_and_exits_non_zero() -> None:
    from dataclasses import replace

    from arbiter.cli.run import EXIT_ATTENTION, exit_code

    residual = {"name": "polymarket:tok:no@abc-1", "contracts": 5_000_000, "value": 27_500_000_000,
                "reason": "residual 5000000 left after 3 hedge attempt(s)"}
    base = _summary({})
    assert exit_code(replace(base, mode="live")) == 0 and base.attention == []
    failed = replace(base, sagas={**base.sagas, "failed": 2}, residuals=[residual, residual],
                     mode="live")
    lines = summary_lines(failed)
    assert "ATTENTION: 2 saga(s) failed" in lines
    assert ("ATTENTION: residual polymarket:tok:no@abc-1: 5 contracts, value $2.75: residual "
            "5000000 left after 3 hedge attempt(s)") in lines
    assert exit_code(failed) == EXIT_ATTENTION
    record = summary_record(failed)
    assert record["failed"] == 2 and len(record["residuals"]) == 2 and record["attention"]
    # paper money: said as clearly, but the run is not a failure
    assert exit_code(replace(failed, mode="paper")) == 0
    assert exit_code(replace(failed, errors=["stop: timeout"])) == 1


def test_the_summary_names_the_hot_core_build() -> None:
    summary = _summary({})
    assert "hot core: unknown (the arbiter did not report it)" in summary_lines(summary)
    summary.core = {"compiled": True, "build": "mypyc 2.4.1"}
    assert "hot core: compiled (mypyc 2.4.1)" in summary_lines(summary)
    assert summary_record(summary)["core"] == summary.core
    summary.core = {"compiled": False, "build": "pure", "reason": "ARBITER_PURE=1"}
    assert "hot core: pure Python (ARBITER_PURE=1)" in summary_lines(summary)
