"""``arbiter scan``: offline detection over a snapshot of both venues' books."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from arbiter.cli.errors import UsageError
from arbiter.cli.snapshot import SnapshotError, load_snapshot
from arbiter.core.detection import DetectionConfig, Detector, Opportunity
from arbiter.core.pairs import Pair, PairsError, parse_pairs
from arbiter.core.units import UnitError, money_str, parse_money, parse_price, parse_size, price_str, size_str

__all__ = [
    "load_pairs_file", "opportunity_record", "refuse_untradable", "register", "run_scan",
]


def load_pairs_file(path: str | Path) -> list[Pair]:
    """Read and validate a pairs TOML file; problems become one-line :class:`UsageError`s."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read pairs file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"pairs file {path} is not UTF-8 text: {exc.reason}") from None
    try:
        # the pairs a scan reports are the ones a trader would trade: reviewed only (ADR 0136)
        return parse_pairs(text, str(path), require_review=True)
    except PairsError as exc:
        raise UsageError(str(exc)) from None


def opportunity_record(opp: Opportunity) -> dict[str, Any]:
    """The JSON shape of one opportunity: money as exact dollar strings."""
    kalshi = opp.leg("kalshi")
    poly = [leg for leg in opp.legs if leg.venue == "polymarket"]
    return {
        "pair": opp.pair,
        "direction": opp.direction,
        "size": size_str(opp.size),
        "kalshi_price": price_str(kalshi.limit_price) if kalshi else None,
        "polymarket_price": price_str(poly[0].limit_price),
        "cost": money_str(opp.cost),
        "fees": money_str(opp.fees),
        "profit": money_str(opp.profit),
        "legs": [
            {
                "venue": leg.venue,
                "market": leg.market,
                "outcome": leg.outcome.value,
                "limit_price": price_str(leg.limit_price),
                "cost": money_str(leg.cost),
                "fee": money_str(leg.fee),
            }
            for leg in opp.legs
        ],
    }


def detection_config(args: argparse.Namespace) -> DetectionConfig:
    try:
        return DetectionConfig(
            min_edge=parse_price(args.min_edge) if args.min_edge not in (None, "0") else 0,
            max_contracts=parse_size(args.max_contracts) if args.max_contracts else None,
            budget=parse_money(args.budget) if args.budget else None,
        )
    except UnitError as exc:
        raise UsageError(str(exc)) from None


def run_scan(
    pairs: list[Pair], document: Any, config: DetectionConfig, out: TextIO
) -> list[Opportunity]:
    detector = Detector(pairs, config)
    now = time.time_ns()
    try:
        load_snapshot(detector, document, now)
    except SnapshotError as exc:
        raise UsageError(str(exc)) from None
    found = detector.scan(now)
    for opp in found:
        out.write(json.dumps(opportunity_record(opp), separators=(",", ":")) + "\n")
    return found


def refuse_untradable(pairs: list[Pair], source: str) -> None:
    """Refuse a pairs file with a pair whose Polymarket fee or minimum size is unknown.

    Unknown is never zero (ADR 0036): scanning such a pair as fee-free would print opportunities
    that lose money, so the command stops (exit 2) and says how to fill the fields in.
    """
    reasons = [r for r in (p.untradable_reason() for p in pairs) if r is not None]
    if reasons:
        raise UsageError(f"{source}: " + "; ".join(reasons))


def _scan(args: argparse.Namespace) -> int:
    pairs = load_pairs_file(args.pairs)
    refuse_untradable(pairs, str(args.pairs))
    try:
        document = json.loads(Path(args.snapshot).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read snapshot {args.snapshot}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"snapshot {args.snapshot} is not valid JSON: {exc}") from None
    run_scan(pairs, document, detection_config(args), sys.stdout)
    return 0


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-edge", default="0", help="minimum profit per contract, dollars")
    parser.add_argument("--max-contracts", help="cap on contracts per opportunity")
    parser.add_argument("--budget", help="cap on cost + fees per opportunity, dollars")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "scan",
        help="find arbitrage in a snapshot of both venues' books",
        description="Print one JSON object per opportunity found in SNAPSHOT for the pairs in "
        "PAIRS.toml. SNAPSHOT holds the venues' own REST order book bodies.",
    )
    parser.add_argument("--pairs", required=True, help="pairs TOML file")
    parser.add_argument("snapshot", help="snapshot JSON file")
    add_detection_options(parser)
    parser.set_defaults(func=_scan)
