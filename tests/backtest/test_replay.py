"""Deterministic replay through the live detection/risk/saga objects, analytics and reports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from arbiter.backtest.analytics import summarize
from arbiter.backtest.replay import BacktestParams, BacktestResult, Replayer
from arbiter.backtest.report import comparison_report, write_report
from arbiter.backtest.sim_exchange import RecordedLatency, latency_from_spec
from arbiter.backtest.storage import EngineStore, EventStore, EventWriter
from arbiter.backtest.synthetic import SyntheticConfig, generate, make_pairs
from arbiter.core.units import MONEY_SCALE

CFG = SyntheticConfig(pairs=4, days=2, events=30_000, seed=5)
PAIRS = make_pairs(CFG.pairs)
JITTER = BacktestParams(latency_kalshi="lognormal:40:0.8", latency_polymarket="lognormal:80:0.8",
                        max_slippage=100, seed=3)


@pytest.fixture(scope="module")
def events():  # type: ignore[no-untyped-def]
    return generate(CFG)


@pytest.fixture(scope="module")
def result(events) -> BacktestResult:  # type: ignore[no-untyped-def]
    return Replayer(PAIRS, events, JITTER).run()


def test_same_inputs_and_seed_give_byte_identical_results(events, result) -> None:  # type: ignore[no-untyped-def]
    again = Replayer(PAIRS, events, JITTER).run()
    assert again.to_json() == result.to_json()
    other_seed = Replayer(PAIRS, events, BacktestParams(**{**JITTER.to_dict(), "seed": 4})).run()
    assert other_seed.to_json() != result.to_json()  # the seed really drives the latency draws


def test_replay_in_a_fresh_process_is_byte_identical(events, result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with EventWriter(tmp_path) as w:
        w.add_batch(events)
    code = (
        "import sys;from arbiter.backtest.replay import *;from arbiter.backtest.storage import *;"
        "from arbiter.backtest.synthetic import make_pairs;"
        f"p=BacktestParams.from_dict({JITTER.to_dict()!r});"
        f"r=Replayer(make_pairs({CFG.pairs}),EventStore({str(tmp_path)!r}).load(),p).run();"
        "sys.stdout.write(r.digest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"})
    assert out.stdout == result.digest()


def test_sagas_run_through_the_engine_executor_and_journal(result) -> None:  # type: ignore[no-untyped-def]
    assert result.opportunities > 0 and len(result.sagas) > 10
    endings = {s["ending"] for s in result.sagas}
    assert "completed" in endings
    for s in result.sagas:
        assert re.fullmatch(r"bt0003-\d+", s["saga_id"])
        if s["ending"] == "completed":
            assert s["leg1_filled"] == s["leg2_filled"] > 0 and s["residual"] == 0
    cids = {f["client_order_id"] for f in result.fills}
    assert all(re.fullmatch(r"arb-bt0003-\d+-(L1|L2|[CU]\d+)", c) for c in cids)
    assert result.equity[-1][1] == result.initial_equity + sum(s["pnl"] for s in result.sagas)


def test_latency_matters(events) -> None:  # type: ignore[no-untyped-def]
    fast = Replayer(PAIRS, events, BacktestParams(latency_kalshi="fixed:0",
                                                  latency_polymarket="fixed:0")).run()
    slow = Replayer(PAIRS, events, BacktestParams(latency_kalshi="fixed:3000",
                                                  latency_polymarket="fixed:3000")).run()
    pnl_fast = sum(s["pnl"] for s in fast.sagas)
    pnl_slow = sum(s["pnl"] for s in slow.sagas)
    assert pnl_fast > pnl_slow


def test_summary_figures_are_consistent(result) -> None:  # type: ignore[no-untyped-def]
    s = summarize(result)
    pnl = sum(x["pnl"] for x in result.sagas)
    assert s["pnl"] == f"{pnl / MONEY_SCALE:.10f}".rstrip("0").rstrip(".") or s["pnl"] == "0"
    assert 0 < s["fill_ratio"] <= 1
    assert 0 <= s["win_rate"] <= 1 and 0 <= s["hedge_frequency"] <= 1
    assert s["trades"] <= s["sagas"] <= s["opportunities"]
    assert s["return_period"] == "hour"
    assert set(s["pnl_by_pair"]) <= {p.name for p in PAIRS}
    json.dumps(s)  # JSON-ready


def test_html_report_is_self_contained_with_plots(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r" / "report.html"
    summary = write_report(out, result, [(0.0, 10 * MONEY_SCALE), (100.0, 5 * MONEY_SCALE)])
    page = out.read_text()
    assert page.count("<svg") == 4
    for title in ("Equity", "Drawdown", "PnL by pair", "Latency sensitivity"):
        assert f'aria-label="{title}"' in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["latency_sensitivity"][1] == {"latency_ms": 100.0, "pnl": "5"}


def test_paper_vs_live_comparison_from_the_engine_store(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [{"ts_ns": s["detected_ns"], "run": run, "saga_id": s["saga_id"], "pair": s["pair"],
             "direction": s["direction"], "ending": s["ending"], "pnl": s["pnl"] - off, "detail": ""}
            for run, off in (("paper", 0), ("live", MONEY_SCALE // 100)) for s in result.sagas[:20]]
    with EngineStore(tmp_path / "e.sqlite") as db:
        db.insert("sagas", rows)
        paper, live = db.query("sagas", run="paper"), db.query("sagas", run="live")
    page, figures = comparison_report("paper", paper, "live", live)
    assert figures["matched"] == 20 and figures["only_a"] == figures["only_b"] == 0
    assert figures["matched_pnl_gap"] == "0.2"
    assert "<svg" in page and "paper vs live" in page


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="leg_order"):
        BacktestParams(leg_order="random")
    with pytest.raises(ValueError, match="unknown backtest parameter"):
        BacktestParams.from_dict({"nope": 1})
    with pytest.raises(ValueError, match="latency"):
        BacktestParams(latency_kalshi="soon")


def test_replay_from_store_matches_in_memory(events, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with EventWriter(tmp_path, flush_rows=5_000) as w:
        w.add_batch(events)
    params = BacktestParams(leg_order="thinner_first", queue_model="risk_averse")
    a = Replayer(PAIRS, events, params).run()
    b = Replayer(PAIRS, EventStore(tmp_path).load(), params).run()
    assert a.to_json() == b.to_json()


def test_recorded_latency_from_an_engine_journal(events, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    journal = tmp_path / "journal.sqlite"
    params = BacktestParams(latency_kalshi="fixed:30", latency_polymarket="fixed:80")
    first = Replayer(PAIRS, events, params, journal_path=str(journal)).run()
    assert first.sagas
    model = latency_from_spec(f"journal:{journal}", "kalshi")
    assert isinstance(model, RecordedLatency) and model.samples
    assert set(model.samples) == {(15_000_000, 15_000_000)}
    poly = latency_from_spec(f"journal:{journal}", "polymarket")
    assert isinstance(poly, RecordedLatency) and set(poly.samples) == {(40_000_000, 40_000_000)}
    replayed = Replayer(PAIRS, events, BacktestParams(
        latency_kalshi=f"journal:{journal}", latency_polymarket=f"journal:{journal}")).run()
    assert replayed.to_json().replace(b"journal:" + str(journal).encode(), b"") == \
        first.to_json().replace(b"fixed:30", b"").replace(b"fixed:80", b"")
    with pytest.raises(ValueError, match="no journal"):
        latency_from_spec(f"journal:{tmp_path / 'none.sqlite'}")
