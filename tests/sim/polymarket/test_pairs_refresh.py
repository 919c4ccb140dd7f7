"""``arbiter pairs refresh`` and the client's ``/clob-markets`` reader, against the local venue."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import pytest

from arbiter.cli.main import main
from arbiter.core.pairs import parse_pairs
from arbiter.sim.common import load_scenario
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.polymarket.market_info import (
    ClobMarketError,
    FeeUnknownError,
    parse_clob_market,
)
from arbiter.venues.polymarket.rest import PolymarketRest

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


async def _sim() -> PolymarketSim:
    sim = PolymarketSim(build_exchange(load_scenario("default"), seed=1), scenario=None)
    await sim.start()
    return sim


async def test_refresh_rewrites_the_venue_fields_in_place(tmp_path: Path) -> None:
    sim = await _sim()
    fed = next(m for m in sim.exchange.markets.values() if m.key.startswith("FED"))
    btc = next(m for m in sim.exchange.markets.values() if m.key.startswith("BTC"))
    text = (
        "# my pairs: reviewed by hand\n"
        "[[pair]]\n"
        'name = "fed"  # Fed funds\n'
        'kalshi_ticker = "KXFED"\n'
        f'polymarket_yes_token = "{fed.yes_token}"\n'
        f'polymarket_no_token = "{fed.no_token}"\n'
        "polymarket_fee_bps = 0   # pre-2026 field: migrated away\n"
        "max_contracts = 50\n"
        "\n"
        "# crypto, inverted on purpose\n"
        "[[pair]]\n"
        'name = "btc"\n'
        'kalshi_ticker = "KXBTC"\n'
        f'polymarket_yes_token = "{btc.yes_token}"\n'
        f'polymarket_no_token = "{btc.no_token}"\n'
        'polymarket_tick_size = "0.1"  # stale\n'
        'polymarket_fee_rate = "0"\n'
        "polymarket_fee_exponent = 1\n"
        "inverted = true\n"
        "\n"
        "[[pair]]\n"
        'name = "ghost"\n'
        'kalshi_ticker = "KXGHOST"\n'
        'polymarket_yes_token = "123"\n'
        'polymarket_no_token = "456"\n'
        'polymarket_fee_rate = "0.05"\n'
        "polymarket_fee_exponent = 1\n"
        'polymarket_min_order_size = "5"\n'
    )
    path = tmp_path / "pairs.toml"
    path.write_text(text)
    try:
        code = await asyncio.to_thread(
            main, ["pairs", "refresh", "--pairs", str(path), "--polymarket-url", sim.url])
    finally:
        await sim.stop()
    assert code == 2  # the ghost pair's market does not exist
    new = path.read_text()
    # everything the operator wrote is kept, comments and order included
    for line in ("# my pairs: reviewed by hand", 'name = "fed"  # Fed funds', "max_contracts = 50",
                 "# crypto, inverted on purpose", "inverted = true"):
        assert line in new
    assert "polymarket_fee_bps" not in new
    assert 'polymarket_tick_size = "0.01"  # stale' in new  # value replaced, comment kept
    pairs = {p.name: p for p in parse_pairs(new)}
    assert pairs["fed"].polymarket_fee is not None
    assert pairs["fed"].polymarket_fee.rate == Fraction(5, 100)  # economics: 0.05
    assert pairs["btc"].polymarket_fee == btc.fee and btc.fee.rate == Fraction(7, 100)
    assert pairs["btc"].polymarket_min_order_size == btc.min_order_size
    assert pairs["btc"].polymarket_condition_id == btc.condition_id and pairs["btc"].inverted
    assert pairs["fed"].untradable_reason() is None
    # a market that cannot be read loses its fee: the pair stays, but never trades
    assert pairs["ghost"].polymarket_fee is None
    assert pairs["ghost"].untradable_reason() is not None
    assert new.index('name = "fed"') < new.index('name = "btc"') < new.index('name = "ghost"')


async def test_refresh_check_mode_writes_nothing(tmp_path: Path) -> None:
    sim = await _sim()
    m = next(iter(sim.exchange.markets.values()))
    text = (f'[[pair]]\nname = "a"\nkalshi_ticker = "K"\npolymarket_yes_token = "{m.yes_token}"\n'
            f'polymarket_no_token = "{m.no_token}"\n')
    path = tmp_path / "pairs.toml"
    path.write_text(text)
    try:
        code = await asyncio.to_thread(
            main, ["pairs", "refresh", "--check", "--pairs", str(path), "--polymarket-url", sim.url])
        assert code == 1 and path.read_text() == text
        assert await asyncio.to_thread(
            main, ["pairs", "refresh", "--pairs", str(path), "--polymarket-url", sim.url]) == 0
        assert await asyncio.to_thread(
            main, ["pairs", "refresh", "--check", "--pairs", str(path), "--polymarket-url",
                   sim.url]) == 0
    finally:
        await sim.stop()


async def test_client_reads_clob_markets_typed() -> None:
    sim = await _sim()
    m = next(m for m in sim.exchange.markets.values() if m.key.startswith("ELEC"))
    rest = PolymarketRest(sim.url)
    try:
        info = await rest.clob_market(m.condition_id)
        assert info.fee.rate == Fraction(1, 25) and info.fee.exponent == 1
        assert (info.min_order_size, info.tick, info.neg_risk) == (m.min_order_size, m.tick, False)
        assert info.token_ids == {m.yes_token, m.no_token}
        assert await rest.condition_of_token(m.no_token) == m.condition_id
    finally:
        await rest.close()
        await sim.stop()


GOOD = {"t": [{"t": "1", "o": "Yes"}, {"t": "2", "o": "No"}], "mos": 5, "mts": 0.01,
        "fd": {"r": 0.04, "e": 1, "to": True}}


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({**GOOD, "fd": None}, FeeUnknownError, "no fee data"),
        ({k: v for k, v in GOOD.items() if k != "fd"}, FeeUnknownError, "no fee data"),
        ({**GOOD, "fd": {"r": 0.04}}, FeeUnknownError, "no 'fd.e'"),
        ({**GOOD, "fd": {"r": "x", "e": 1}}, FeeUnknownError, "is not a number"),
        ({**GOOD, "fd": {"r": 0.04, "e": 1.5}}, FeeUnknownError, "not a whole number"),
        ({**GOOD, "fd": {"r": 0.04, "e": 1, "to": False}}, FeeUnknownError, "maker-charging"),
        ({**GOOD, "fd": {"r": 2, "e": 1}}, FeeUnknownError, "outside [0, 1]"),
        ({**GOOD, "mts": 0.02}, ClobMarketError, "is not one of"),
        ({k: v for k, v in GOOD.items() if k != "mos"}, ClobMarketError, "no minimum order size"),
        ({**GOOD, "mos": 1e-9}, ClobMarketError, "is not a share count"),
        ({**GOOD, "nr": "yes"}, ClobMarketError, "'nr' must be a bool"),
        ({**GOOD, "t": []}, ClobMarketError, "'t' must be"),
        ([], ClobMarketError, "expected an object"),
    ],
)
def test_a_body_of_the_wrong_shape_is_a_typed_error(
    body: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        parse_clob_market(body, "0xabc")
    assert message in str(info.value) and "/clob-markets/0xabc" in str(info.value)


def test_the_documented_example_parses() -> None:
    """docs /api-reference/markets/get-clob-market-info example (abridged: r, t, fd, mos, mts)."""
    info = parse_clob_market({**GOOD, "fd": {"r": 0.02, "e": 2, "to": True}, "mbf": 0, "tbf": 0,
                              "rfqe": True, "itode": True, "ibce": True, "oas": 123}, "0x1")
    assert info.fee.rate == Fraction(1, 50) and info.fee.exponent == 2
    assert info.tick_text == "0.01" and info.min_order_size == 5_000_000 and not info.neg_risk
    free = parse_clob_market({**GOOD, "fd": {"r": 0, "e": 1}}, "0x2")
    assert free.fee.free
    half = parse_clob_market({**GOOD, "mts": 0.0025}, "0x3")
    assert half.tick == 25


async def test_refresh_reads_both_venues_when_asked(tmp_path: Path) -> None:
    """``--kalshi-url``: the Kalshi series fee and grid fields come from the local Kalshi too."""
    from arbiter.sim.launcher import LocalVenues

    async with LocalVenues(tmp_path / "venues") as venues:
        assert venues.kalshi is not None and venues.polymarket is not None
        path = venues.dir / "pairs.toml"
        bare = "\n".join(line for line in path.read_text().splitlines()
                         if not line.startswith(("polymarket_fee", "polymarket_min")))
        path.write_text(bare + "\n")
        code = await asyncio.to_thread(
            main, ["pairs", "refresh", "--pairs", str(path), "--polymarket-url",
                   venues.polymarket.url, "--kalshi-url", venues.kalshi.rest_url])
    assert code == 0
    text = path.read_text()
    assert "kalshi_fee_type" in text and "kalshi_price_level_structure" in text
    pairs = parse_pairs(text)
    assert pairs and all(p.untradable_reason() is None for p in pairs)
    assert {str(p.polymarket_fee.rate) for p in pairs if p.polymarket_fee} == {"1/20", "7/100",
                                                                               "1/25"}
