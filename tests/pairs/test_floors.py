"""The floors of issue 22 on the labelled set of real venue bodies (tests/pairs/data).

Fails if precision drops below 0.95, recall below 0.75, any orientation is wrong, or any
labelled near miss is proposed or claimed as a pair.
"""

from __future__ import annotations

import json

from bench.pairs import LABELS, default_files, evaluate, main, run_matcher

LABELLED = json.loads(LABELS.read_text())


def test_the_labelled_set_is_what_the_floors_are_measured_on() -> None:
    kalshi, poly = default_files()
    assert len(kalshi) == 11 and len(poly) == 9
    assert len(LABELLED["positives"]) == 9 and len(LABELLED["near_misses"]) == 40
    legs = sum(len(p["accept"]) for p in LABELLED["positives"])
    assert legs == 13


def test_floors_hold() -> None:
    result = evaluate(run_matcher(*default_files()), LABELLED)
    assert result["precision"] >= 0.95, result["false_claims"]
    assert result["recall"] >= 0.75, result["missed"]
    assert result["orientation_errors"] == 0, result["orientation_error_detail"]
    assert result["negatives_ok"] == result["near_misses"], [
        n for n in result["negatives"] if not n["ok"]]


def test_evaluate_counts_a_wrong_orientation_and_a_false_claim() -> None:
    """The scorer itself can fail: a flipped label is an orientation error, and a positive
    moved to another Polymarket market turns its claim into a false one."""
    candidates = run_matcher(*default_files())
    flipped = json.loads(json.dumps(LABELLED))
    for a in flipped["positives"][0]["accept"]:
        a["inverted"] = not a["inverted"]
    assert evaluate(candidates, flipped)["orientation_errors"] == 1
    moved = json.loads(json.dumps(LABELLED))
    moved["positives"][1]["polymarket_condition_id"] = "0x" + "0" * 64
    result = evaluate(candidates, moved)
    assert result["false_claims"] and result["precision"] < 0.95


def test_bench_prints_json(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"precision", "recall", "f1", "orientation_errors", "negatives"} <= set(out)
