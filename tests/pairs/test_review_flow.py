"""The review flow end to end: from files, and against the local venues on loopback.

suggest --json → review (terminal + HTML) → accepted pairs in the pairs file with who/when/why,
parsed back with ``require_review=True``; the local Kalshi and local Polymarket serve the same
real bodies through ``/events`` and Gamma ``/gamma/events`` and the matcher finds the same
candidates there as offline.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from arbiter.cli.main import main
from arbiter.core.pairs import parse_pairs
from arbiter.sim.common import load_scenario
from arbiter.sim.kalshi.exchange import Exchange
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.server import PolymarketSim
from bench.pairs import default_files

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

KALSHI, POLY = default_files()
FILES = ["--kalshi-markets", *map(str, KALSHI), "--polymarket-markets", *map(str, POLY)]
DET = "KXNFLGAME-26SEP17DETBUF-DET"
PUR = "KXNCAAFGAME-26SEP19PURUCLA-PUR"


def kalshi_markets_of(files: list[Path]) -> list[dict[str, Any]]:
    """Every Kalshi market object in the files (nested in events or listed), as served."""
    out: list[dict[str, Any]] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if "ticker" in x and "market_type" in x:
                out.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    for f in files:
        walk(json.loads(f.read_text()))
    return out


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_suggest_json_has_one_object_per_candidate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pairs", "suggest", "--json", *FILES]) == 0
    rows = _lines(capsys.readouterr().out)
    keys = {"kalshi_ticker", "polymarket_condition_id", "polymarket_yes_token",
            "polymarket_no_token", "inverted", "relation", "verdict", "score", "margin"}
    assert rows and all(keys <= set(r) for r in rows)
    det = next(r for r in rows if r["kalshi_ticker"] == DET and r["verdict"] != "reject")
    assert det["relation"] == "identity" and det["inverted"] is False
    assert det["polymarket_yes_token"].startswith("3594634980964401822")
    phi = next(r for r in rows if r["kalshi_ticker"] == "KXNFLGAME-26SEP20PHITEN-PHI")
    assert phi["inverted"] is None and phi["verdict"] == "review"


def test_suggest_toml_loads_as_no_pair(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    assert main(["pairs", "suggest", *FILES]) == 0
    text = capsys.readouterr().out
    assert "# [[pair]]" in text and tomllib.loads(text) == {}


def test_review_from_files_writes_reviewed_pairs(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.toml"
    page = tmp_path / "review.html"
    code = main(["pairs", "review", *FILES, "--accept", DET, PUR, "--reviewer", "alice",
                 "--note", "postponement/cancellation differ; accepted for regular-season games",
                 "--pairs-file", str(pairs), "--html", str(page)])
    assert code == 0
    out = capsys.readouterr().out
    assert "KALSHI RULES" in out and "POLYMARKET RULES" in out and "postponement" in out
    loaded = parse_pairs(pairs.read_text(), str(pairs), require_review=True)
    assert [p.kalshi_ticker for p in loaded] == [DET, PUR]
    assert all(p.reviewed_by == "alice" and p.reviewed_at is not None for p in loaded)
    assert "postponement" in loaded[0].review_note and not loaded[0].inverted
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "<script" not in html and "http" not in html.split(
        "<body>")[0]
    assert "If Detroit wins the DET Lions vs BUF Bills" in html and "resolve 50-50" in html
    # a second review appends; accepting the same Kalshi market twice is refused, file intact
    before = pairs.read_text()
    assert main(["pairs", "review", *FILES, "--accept", DET, "--reviewer", "bob",
                 "--pairs-file", str(pairs)]) == 2
    assert pairs.read_text() == before


@pytest.mark.parametrize("ticker", ["KXNFLGAME-26SEP20PHITEN-PHI",  # orientation unmapped
                                    "KXNFLGAME-26SEP17DETBUF-BUF",  # the alternative leg
                                    "KXNFLTOTAL-26SEP20CARATL-66"])  # a subset near miss
def test_what_is_not_a_claim_cannot_be_accepted(ticker: str, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.toml"
    assert main(["pairs", "review", *FILES, "--accept", ticker, "--reviewer", "alice",
                 "--pairs-file", str(pairs)]) == 2
    assert not pairs.exists()


def test_accepting_needs_a_reviewer(tmp_path: Path) -> None:
    assert main(["pairs", "review", *FILES, "--accept", DET, "--pairs-file",
                 str(tmp_path / "p.toml")]) == 2


async def _pages(url: str) -> list[dict[str, Any]]:
    out, cursor = [], ""
    async with aiohttp.ClientSession() as http:
        while True:
            params = {"limit": "3", "with_nested_markets": "true", "status": "open",
                      **({"cursor": cursor} if cursor else {})}
            async with http.get(url + "/events", params=params) as r:
                body = await r.json()
            out.append(body)
            cursor = body["cursor"]
            if not cursor:
                return out


@pytest.mark.slow  # about 3 s: four catalogue reads of the 75 + 17 real markets over loopback
async def test_review_flow_against_the_local_venues(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ksim = KalshiSim(Exchange(seed=0))
    ksim.catalogue.load(json.loads(p.read_text()) for p in KALSHI)
    psim = PolymarketSim(build_exchange(load_scenario("default"), seed=1), scenario=None)
    psim.gamma.load(json.loads(p.read_text()) for p in POLY)
    await ksim.start()
    await psim.start()
    try:
        pages = await _pages(ksim.rest_url)
        events = {m["event_ticker"] for m in kalshi_markets_of(KALSHI)}
        assert len(pages) > 1 and sum(len(p["events"]) for p in pages) == len(events) == 12
        live = ["--kalshi-url", ksim.rest_url, "--polymarket-gamma-url", psim.url + "/gamma",
                "--cache-dir", str(tmp_path / "cache")]
        assert await asyncio.to_thread(main, ["pairs", "suggest", "--json", *live]) == 0
        online = _lines(capsys.readouterr().out)
        # the local CLOB does not list the real bodies' markets: their fee is unknown, said so
        assert await asyncio.to_thread(main, ["pairs", "suggest", *live, "--polymarket-url",
                                              psim.url]) == 0
        assert "FEE UNKNOWN: /clob-markets" in capsys.readouterr().out
        pairs = tmp_path / "pairs.toml"
        assert await asyncio.to_thread(main, [
            "pairs", "review", *live, "--accept", DET, "--reviewer", "carol",
            "--note", "rules read", "--pairs-file", str(pairs)]) == 0
        capsys.readouterr()
    finally:
        await psim.stop()
        await ksim.stop()
    assert await asyncio.to_thread(main, ["pairs", "suggest", "--json", *FILES]) == 0
    offline = _lines(capsys.readouterr().out)

    def key(rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        return {(r["kalshi_ticker"], r["polymarket_condition_id"], r["relation"], r["verdict"],
                 r["inverted"]) for r in rows}

    # the traded sim markets add candidates of their own; the real ones come out identical
    real = {c["polymarket_condition_id"] for c in offline}
    assert key([r for r in online if r["polymarket_condition_id"] in real]) == key(offline)
    (pair,) = parse_pairs(pairs.read_text(), require_review=True)
    assert pair.kalshi_ticker == DET and pair.reviewed_by == "carol"
    # the venues are gone; the cache still answers
    assert await asyncio.to_thread(main, ["pairs", "suggest", "--json", *live]) == 0
    assert key([r for r in _lines(capsys.readouterr().out)
                if r["polymarket_condition_id"] in real]) == key(offline)


def test_local_venue_clis_load_a_catalogue(tmp_path: Path) -> None:
    import argparse

    from arbiter.cli.errors import UsageError
    from arbiter.cli.sim_kalshi import _catalogue
    from arbiter.cli.sim_polymarket import build_sim

    assert len(_catalogue([str(p) for p in KALSHI])) == len(KALSHI)
    with pytest.raises(UsageError, match="--catalogue"):
        _catalogue([str(tmp_path / "missing.json")])
    accounts = tmp_path / "p.toml"
    accounts.write_text('[[account]]\naddress = "0x1111111111111111111111111111111111111111"\n'
                        'collateral = "1.00"\n')
    args = argparse.Namespace(scenario="static", accounts=str(accounts), seed=0, version=2,
                              auth_window_s=300, no_makers=True, reject_status=400,
                              rate_limit=False, catalogue=[str(p) for p in POLY],
                              admin_token=None)
    sim = build_sim(args)
    # the college files hold two events each (two captures of the same two games: the local
    # Gamma serves what it was given; the matcher keeps one market per condition id), and the
    # Kraken, Dem-nominee and Bitcoin files one each; the market list adds its markets' events
    assert len(sim.gamma.events) == 13


def test_suggest_writes_the_polymarket_fee_or_says_it_is_unknown() -> None:
    """A written candidate states its market's fee, minimum and tick from ``/clob-markets``
    (the block, uncommented, is a tradable pair), or says FEE UNKNOWN and leaves them out (the
    block parses but the pair is not tradable)."""
    from arbiter.cli.pairs_catalogue import load_bodies
    from arbiter.cli.pairs_suggest import render_toml
    from arbiter.core.pairmatch import kalshi_markets, match, polymarket_markets
    from arbiter.venues.polymarket.market_info import parse_clob_market

    candidates = match(kalshi_markets(load_bodies(list(map(str, KALSHI)))),
                       polymarket_markets(load_bodies(list(map(str, POLY)))))
    det = next(c for c in candidates if c.kalshi.key == DET and c.inverted is not None)
    assert det.poly.tokens is not None
    yes, no = det.poly.tokens
    info = parse_clob_market({"c": det.poly.key, "mts": 0.01, "mos": 5, "nr": False,
                              "fd": {"r": 0.03, "e": 1, "to": True},
                              "t": [{"t": yes, "o": "Yes"}, {"t": no, "o": "No"}]}, det.poly.key)

    def block(text: str) -> str:
        start = text.index(f'# kalshi_ticker = "{DET}"')
        start = text.rindex("# [[pair]]", 0, start)
        end = text.find("\n\n", start)
        body = text[start:end if end >= 0 else len(text)]
        return "\n".join(line[2:] for line in body.splitlines() if not line.startswith("#   "))

    (known,) = parse_pairs(block(render_toml([det], market_info={det.poly.key: info})))
    assert known.untradable_reason() is None
    assert known.polymarket_fee is not None and known.polymarket_fee.rate_text == "0.03"
    unknown_text = render_toml([det], market_info={det.poly.key: "404 not found"})
    assert "FEE UNKNOWN: /clob-markets 404 not found" in unknown_text
    (unknown,) = parse_pairs(block(unknown_text))
    assert unknown.untradable_reason() is not None
