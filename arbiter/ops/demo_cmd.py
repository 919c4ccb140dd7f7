"""``arbiter demo``: what ``make demo`` runs.

Until the live engine lands this is an offline scan of the bundled sample snapshot, reported in
words, so a fresh clone shows the detector working end to end with no venue access at all.
"""

from __future__ import annotations

import argparse
import io
import json
from importlib import resources

from arbiter.core.detection import DetectionConfig
from arbiter.core.pairs import parse_pairs
from arbiter.core.units import money_str, price_str, size_str
from arbiter.ops.scan_cmd import run_scan

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    data = resources.files("arbiter.data")
    pairs = parse_pairs((data / "sample_pairs.toml").read_text(encoding="utf-8"), "sample_pairs.toml")
    snapshot = json.loads((data / "sample_snapshot.json").read_text(encoding="utf-8"))
    print(f"arbiter demo: scanning the bundled snapshot for {len(pairs)} pairs "
          "(Kalshi taker fees 0.07 x C x P x (1-P), rounded up to the cent)")
    lines = io.StringIO()
    found = run_scan(pairs, snapshot, DetectionConfig(), lines)
    for opp in found:
        legs = " + ".join(
            f"{leg.venue} {leg.outcome.value.upper()} up to {price_str(leg.limit_price)}"
            for leg in opp.legs
        )
        print(f"  {opp.pair:<20} {opp.direction:<20} {size_str(opp.size):>5} contracts: {legs}; "
              f"cost ${money_str(opp.cost)}, fees ${money_str(opp.fees)}, "
              f"locked profit ${money_str(opp.profit)}")
    total = sum(o.profit for o in found)
    print(f"found {len(found)} opportunities, ${money_str(total)} of locked profit in total")
    if args.json:
        print(lines.getvalue(), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("demo", help="run the demo (offline scan of a bundled snapshot)")
    parser.add_argument("--json", action="store_true", help="also print the JSON records")
    parser.set_defaults(func=_demo)
