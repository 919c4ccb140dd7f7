"""``arbiter pairs suggest``: scoring, and the review file against the local Polymarket."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arbiter.core.pairs import parse_pairs
from arbiter.ops.cli import main
from arbiter.ops.pairs_suggest import KalshiListing, PolyListing, score, suggest
from arbiter.sim.common import load_scenario
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.server import PolymarketSim

D = datetime(2026, 12, 31, tzinfo=UTC)


def _poly(cid: str, question: str, end: datetime | None = D,
          outcomes: tuple[str, str] = ("Yes", "No")) -> PolyListing:
    return PolyListing(cid, question, end, ((f"{cid}1", outcomes[0]), (f"{cid}2", outcomes[1])))


def test_threshold_and_date_differences_lose_to_the_true_twin() -> None:
    k = [KalshiListing("FED-T4.00", "Fed funds rate above 4.00% in December 2026?", D)]
    p = [
        _poly("0xa", "Fed funds rate above 4.25% in December 2026?"),
        _poly("0xb", "Will the Fed funds rate be above 4.00% in December 2026?"),
        _poly("0xc", "Fed funds rate above 4.00% in December 2026?", datetime(2027, 6, 1,
                                                                                 tzinfo=UTC)),
    ]
    (best,) = suggest(k, p)
    assert best.poly.condition_id == "0xb" and not best.numbers_differ
    wrong = score(k[0], p[0])
    assert wrong.numbers_differ and wrong.score < 0.55
    assert score(k[0], p[2]).date_score == 0.0


def test_named_outcomes_detect_inversion_and_unrelated_markets_are_dropped() -> None:
    k = [KalshiListing("NBA-LAL", "Lakers vs Celtics winner", D, "Celtics", "Lakers"),
         KalshiListing("RAIN", "Rain in NYC on Nov 30", D)]
    p = [_poly("0xg", "Lakers vs. Celtics", outcomes=("Lakers", "Celtics")),
         _poly("0xz", "Bitcoin above $100k on Dec 31?")]
    (c,) = suggest(k, p)
    assert c.kalshi.ticker == "NBA-LAL" and c.inverted
    assert score(k[1], p[1]).score < 0.4


async def test_review_file_from_local_polymarket(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    spec = load_scenario("default")
    sim = PolymarketSim(build_exchange(spec, seed=1), scenario=None)
    await sim.start()
    try:
        kalshi = {"markets": [
            {"ticker": m.key, "title": m.title, "status": "active",
             "close_time": "2026-12-31T23:59:59Z", "yes_sub_title": "Yes", "no_sub_title": "No"}
            for m in spec.markets
        ] + [{"ticker": "OTHER", "title": "Snow in Miami in July", "status": "active",
              "close_time": "2026-07-31T00:00:00Z"}]}
        kfile = tmp_path / "kalshi.json"
        kfile.write_text(json.dumps(kalshi))
        out = tmp_path / "pairs.toml"
        code = await asyncio.to_thread(
            main, ["pairs", "suggest", "--polymarket-url", sim.url, "--kalshi-markets",
                   str(kfile), "-o", str(out)],
        )
    finally:
        await sim.stop()
    assert code == 0
    text = out.read_text()
    assert tomllib.loads(text) == {}  # nothing is a pair until a human uncomments it
    # what the operator does after review: uncomment the [[pair]] blocks
    confirmed = "\n".join(
        line[2:] for line in text.splitlines()
        if re.match(r"# (\[\[pair\]\]|[a-z_]+ = )", line)
    )
    pairs = parse_pairs(confirmed)
    assert sorted(p.kalshi_ticker for p in pairs) == sorted(m.key for m in spec.markets)
    markets = {m.key: m for m in sim.exchange.markets.values()}
    assert all(p.polymarket_yes_token == markets[p.kalshi_ticker].yes_token for p in pairs)
    # the fee, minimum and tick come from the venue's /clob-markets, so the pairs can trade
    for p in pairs:
        m = markets[p.kalshi_ticker]
        assert p.untradable_reason() is None
        assert p.polymarket_fee == m.fee and p.polymarket_min_order_size == m.min_order_size
        assert p.polymarket_condition_id == m.condition_id and p.polymarket_tick == m.tick
    assert {str(p.polymarket_fee.rate) for p in pairs if p.polymarket_fee} == {"1/20", "7/100",
                                                                               "1/25"}
    assert "wrote 4 candidate pair(s)" in capsys.readouterr().err


def test_an_offline_candidate_says_its_fee_is_unknown() -> None:
    from arbiter.ops.pairs_suggest import render_toml

    k = [KalshiListing("FED-T4.00", "Fed funds rate above 4.00% in December 2026?", D)]
    poly = PolyListing("0xb", "Will the Fed funds rate be above 4.00% in December 2026?", D,
                       (("71", "Yes"), ("72", "No")))
    (c,) = suggest(k, [poly])
    text = render_toml([c])
    assert "FEE UNKNOWN" in text and "polymarket_fee_rate" not in text.replace(
        "polymarket_fee_rate/_exponent", "")
    confirmed = "\n".join(line[2:] for line in text.splitlines()
                          if re.match(r"# (\[\[pair\]\]|[a-z_]+ = )", line))
    (pair,) = parse_pairs(confirmed)
    assert pair.untradable_reason() is not None  # uncommented as is, it still cannot trade
