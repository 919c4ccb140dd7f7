"""`arbiter record | backtest | export | sweep` end to end, and their one-line user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from arbiter.backtest.synthetic import make_pairs, pairs_toml
from arbiter.cli.main import main

SPEC = "events=20000,pairs=3,days=2,seed=4"


def test_record_backtest_report_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["record", "--source", "synthetic", "--synthetic", SPEC, "--out", str(data),
                 "--flush-rows", "2000"]) == 0
    assert "record: 20,0" in capsys.readouterr().out
    pairs = tmp_path / "pairs.toml"
    pairs.write_text(pairs_toml(make_pairs(3)))
    report = tmp_path / "out" / "report.html"
    store = tmp_path / "engine.sqlite"
    assert main(["backtest", "--data", str(data), "--pairs", str(pairs), "--report", str(report),
                 "--latency-sweep", "0,500", "--param", "min_edge=150", "--store", str(store),
                 "--run", "bt1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["sagas"] > 0 and len(summary["digest"]) == 64
    assert [p["latency_ms"] for p in summary["latency_sensitivity"]] == [0.0, 500.0]
    assert report.read_text().count("<svg") == 4 and report.with_suffix(".json").exists()
    # the same data from the synthetic spec directly gives the same replay
    assert main(["backtest", "--synthetic", SPEC, "--param", "min_edge=150", "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["digest"] == summary["digest"]
    out = tmp_path / "fills.csv"
    assert main(["export", "--data", str(store), "--stream", "fills", "--format", "csv",
                 "--out", str(out)]) == 0
    assert pacsv.read_csv(out).num_rows > 0
    assert main(["export", "--data", str(data), "--start", "2026-01-05T06:00",
                 "--end", "2026-01-05T12:00", "--out", str(tmp_path / "ev.parquet")]) == 0
    assert "rows of events" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["backtest", "--synthetic", SPEC, "--data", "x"], "exactly one of --data"),
    (["backtest", "--data", "/nonexistent"], "--data needs --pairs"),
    (["backtest", "--synthetic", "events=oops=1"], "bad synthetic spec"),
    (["backtest", "--synthetic", SPEC, "--param", "leg_order=sideways"], "leg_order"),
    (["sweep", "--synthetic", SPEC, "--grid", "speed=1,2", "--out", "/tmp/x"], "bad grid axis"),
    (["sweep", "--synthetic", SPEC, "--out", "/tmp/x"], "at least one --grid"),
    (["export", "--data", "/nonexistent", "--out", "/tmp/x.csv"], "no recorded events"),
    (["record", "--out", "/tmp/x"], "--config"),
])
def test_user_errors_are_one_line(argv: list[str], message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_backtest_refuses_pairs_with_an_unknown_polymarket_fee(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "\n".join(line for line in pairs_toml(make_pairs(2)).splitlines()
                     if not line.startswith("polymarket_fee"))
    path = tmp_path / "pairs.toml"
    path.write_text(text)
    assert main(["backtest", "--synthetic", SPEC, "--pairs", str(path)]) == 2
    err = capsys.readouterr().err
    assert "pair 'syn-0': Polymarket polymarket_fee_rate/polymarket_fee_exponent unknown" in err


def test_a_backtest_of_a_store_streams_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`arbiter backtest --data` reads the store chunk by chunk (bounded memory, ADR 0151): it
    never loads it whole, and gives the digest of the in-memory replay of the same rows."""
    from arbiter.backtest.storage import EventStore

    data = tmp_path / "data"
    assert main(["record", "--source", "synthetic", "--synthetic", SPEC, "--out", str(data),
                 "--flush-rows", "2000"]) == 0
    assert main(["backtest", "--synthetic", SPEC, "--json"]) == 0
    in_memory = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    def whole(*_a: object, **_k: object) -> None:
        raise AssertionError("the backtest loaded the whole store")

    monkeypatch.setattr(EventStore, "load", whole)
    assert main(["backtest", "--data", str(data), "--json"]) == 0  # its pairs.toml beside it
    streamed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert streamed["digest"] == in_memory["digest"] and streamed["sagas"] == in_memory["sagas"]
    assert main(["backtest", "--data", str(data), "--start", "2030-01-01T00:00"]) == 2
    assert "no recorded events" in capsys.readouterr().err
