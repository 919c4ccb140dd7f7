"""Pair matching measured on the labelled set of real venue bodies (tests/pairs).

``python -m bench.pairs [--json] [--kalshi F ...] [--polymarket F ...] [--labels F]``

Runs the matcher (:mod:`arbiter.core.pairmatch`) over the verbatim Kalshi and Polymarket bodies
in ``tests/pairs/data`` and scores it against ``tests/pairs/labels.json``:

* a **claim** is a candidate the matcher offers as a pair — relation identity or complement,
  orientation mapped, won the one-to-one assignment — whatever its verdict (``propose`` or
  ``review``): it is what reaches the trader's pairs file after review;
* **precision** = claims that are a labelled positive with the right orientation / claims (the
  set is closed: a claim on any unlabelled combination counts against it);
* **recall** = labelled positives (one per Polymarket market) claimed correctly / positives;
* **orientation errors** = claims on a positive with the wrong ``inverted``;
* every labelled near miss must be ``reject`` or a ``review`` that claims no pair;
* the closed set's size: every combination of the files' markets that is not a positive's leg
  is a negative, so a claim anywhere else is a false positive.

Prints the figures (``--json``: one object) and writes ``bench/results/pairs.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arbiter.core.pairmatch import PROPOSE, REJECT, Candidate, kalshi_markets, match, polymarket_markets

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "pairs" / "data"
LABELS = ROOT / "tests" / "pairs" / "labels.json"
RESULTS = Path(__file__).resolve().parent / "results" / "pairs.json"


def default_files() -> tuple[list[Path], list[Path]]:
    files = sorted(DATA.glob("*.json"))
    return ([f for f in files if f.name.startswith("kalshi_")],
            [f for f in files if f.name.startswith(("pm_", "polymarket_"))])


def run_matcher(kalshi: Sequence[Path], poly: Sequence[Path]) -> list[Candidate]:
    k = kalshi_markets(json.loads(f.read_text()) for f in kalshi)
    p = polymarket_markets(json.loads(f.read_text()) for f in poly)
    return match(k, p)


def closed_set(kalshi: Sequence[Path], poly: Sequence[Path], labels: dict[str, Any]) -> dict[str, int]:
    """The size of the closed set: every (Kalshi, Polymarket) combination of the files is
    labelled — the positives' legs, everything else a negative (the named near misses are the
    look-alike part of those negatives)."""
    k = kalshi_markets(json.loads(f.read_text()) for f in kalshi)
    p = polymarket_markets(json.loads(f.read_text()) for f in poly)
    legs = sum(len(pos["accept"]) for pos in labels["positives"])
    return {"kalshi_markets": len(k), "polymarket_markets": len(p),
            "positive_legs": legs, "closed_set_negatives": len(k) * len(p) - legs}


def evaluate(candidates: Sequence[Candidate], labels: dict[str, Any]) -> dict[str, Any]:
    """Precision, recall, F1, orientation errors and every near miss's verdict."""
    positives = {p["polymarket_condition_id"]: p for p in labels["positives"]}
    claims = [c for c in candidates if c.claims_pair and c.verdict != REJECT]
    found: set[str] = set()
    true_claims = 0
    orientation_errors: list[dict[str, Any]] = []
    false_claims: list[dict[str, Any]] = []
    for c in claims:
        group = positives.get(c.poly.key)
        accept = {(a["kalshi_ticker"], a["inverted"]) for a in group["accept"]} if group else set()
        if (c.kalshi.key, c.inverted) in accept:
            true_claims += 1
            found.add(c.poly.key)
        elif any(t == c.kalshi.key for t, _ in accept):
            orientation_errors.append({"kalshi_ticker": c.kalshi.key,
                                       "polymarket_condition_id": c.poly.key,
                                       "inverted": c.inverted})
        else:
            false_claims.append({"kalshi_ticker": c.kalshi.key,
                                 "polymarket_condition_id": c.poly.key,
                                 "relation": c.relation.relation})
    by_pair = {(c.kalshi.key, c.poly.key): c for c in candidates}
    negatives = []
    for n in labels["near_misses"]:
        c = by_pair.get((n["kalshi_ticker"], n["polymarket_condition_id"]))
        verdict = c.verdict if c else "not a candidate (blocked)"
        claimed = bool(c and c.claims_pair and c.verdict != REJECT)
        negatives.append({**{k: n[k] for k in ("kalshi_ticker", "polymarket_condition_id",
                                               "kind")},
                          "verdict": verdict, "relation": c.relation.relation if c else None,
                          "ok": (c is None or c.verdict == REJECT
                                 or (c.verdict != PROPOSE and not claimed))})
    precision = true_claims / len(claims) if claims else 0.0
    recall = len(found) / len(positives) if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    missed = sorted(set(positives) - found)
    return {
        "positives": len(positives),
        "near_misses": len(labels["near_misses"]),
        "candidates": len(candidates),
        "claims": len(claims),
        "proposed": sum(1 for c in candidates if c.verdict == PROPOSE),
        "review": sum(1 for c in candidates if c.verdict == "review"),
        "true_claims": true_claims,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "orientation_errors": len(orientation_errors),
        "orientation_error_detail": orientation_errors,
        "false_claims": false_claims,
        "missed": [{"id": positives[m]["id"], "polymarket_condition_id": m,
                    "verdict": next((c.verdict + ": " + "; ".join(c.reasons)
                                     for c in candidates if c.poly.key == m
                                     and c.relation.relation in ("identity", "complement")),
                                    "no candidate")} for m in missed],
        "negatives_ok": sum(1 for n in negatives if n["ok"]),
        "negatives": negatives,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pairs", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--kalshi", nargs="*", type=Path, help="Kalshi body files")
    ap.add_argument("--polymarket", nargs="*", type=Path, help="Polymarket Gamma body files")
    ap.add_argument("--labels", type=Path, default=LABELS)
    args = ap.parse_args(argv)
    k_default, p_default = default_files()
    kalshi, poly = args.kalshi or k_default, args.polymarket or p_default
    labels = json.loads(args.labels.read_text())
    candidates = run_matcher(kalshi, poly)
    result = {**closed_set(kalshi, poly, labels), **evaluate(candidates, labels)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['kalshi_markets']} Kalshi x {result['polymarket_markets']} Polymarket "
              f"markets: positives {result['positives']} ({result['positive_legs']} Kalshi legs), "
              f"negatives {result['closed_set_negatives']} of which {result['near_misses']} named "
              f"near misses; claims {result['claims']} (proposed {result['proposed']})")
        print(f"precision {result['precision']:.3f}  recall {result['recall']:.3f}  "
              f"F1 {result['f1']:.3f}  orientation errors {result['orientation_errors']}")
        print(f"near misses rejected or review without a claim: {result['negatives_ok']}/"
              f"{result['near_misses']}")
        for m in result["missed"]:
            print(f"  missed {m['id']}: {m['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
