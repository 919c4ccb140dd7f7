"""Live and paper start from the venue's Polymarket market data, and re-read it when it moves.

Against the local venues (real HTTP on loopback): the pairs file says one thing, the venue's
``/clob-markets`` another, and the engine trades what the venue says; a market it cannot read is
kept out of detection (ADR 0036).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from arbiter.app.build import build_detector, refresh_market_data, refresh_pair
from arbiter.app.config import load_config
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.units import ONE_CONTRACT, parse_tick
from arbiter.sim.launcher import LocalVenues
from arbiter.venues.base import RejectedError
from arbiter.venues.polymarket.market_info import market_changed
from arbiter.venues.polymarket.parsing import MarketBooks

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


async def test_start_up_refresh_trades_the_venue_fee_and_refuses_the_unreadable(
    venues: LocalVenues,
) -> None:
    assert venues.polymarket is not None
    markets = {m.key.lower(): m for m in venues.polymarket.exchange.markets.values()}
    fed = markets["fed-26dec-t4.00"]
    # the venue raised this market's fee and minimum since the pairs file was written
    fed.fee, fed.min_order_size = PolymarketFeeModel.of("0.07", 1), 10 * ONE_CONTRACT
    config = load_config(venues.config_path)
    # and one pair points at tokens the venue does not know
    ghost = next(p for p in config.pairs if p.name == "elec-26-house-d")
    config = config.with_overrides(pairs_toml=config.pairs_toml.replace(
        ghost.polymarket_yes_token, "1" * 70))
    before = {p.name: p for p in config.pairs}
    assert before["fed-26dec-t4.00"].polymarket_fee == PolymarketFeeModel.of("0.05", 1)
    refreshed, refused = await refresh_market_data(config)
    pairs = {p.name: p for p in refreshed.pairs}
    fed_pair = pairs["fed-26dec-t4.00"]
    assert fed_pair.polymarket_fee == PolymarketFeeModel.of("0.07", 1)
    assert fed_pair.polymarket_min_order_size == 10 * ONE_CONTRACT
    assert fed_pair.polymarket_condition_id == fed.condition_id
    assert set(refused) == {"elec-26-house-d"}
    assert pairs["elec-26-house-d"].untradable_reason() is not None
    detector = build_detector(refreshed)
    assert set(detector.refused) == {"elec-26-house-d"}
    assert detector.token_book(fed.yes_token).min_order_size == 10 * ONE_CONTRACT


async def test_a_tick_change_or_a_refused_order_re_reads_the_market(venues: LocalVenues) -> None:
    assert venues.polymarket is not None
    sim = venues.polymarket
    config, _ = await refresh_market_data(load_config(venues.config_path))
    detector = build_detector(config)
    pair = next(p for p in detector.pairs if p.name.startswith("btc"))
    market = next(m for m in sim.exchange.markets.values() if m.yes_token == pair.polymarket_yes_token)
    # the venue moves the tick: the market channel says so, and the engine is told
    seen: list[tuple[str, int]] = []
    books = MarketBooks()
    books.books[market.yes_token] = detector.token_book(market.yes_token)
    books.on_tick_change = lambda token, tick: seen.append((token, tick))
    frame = {"event_type": "tick_size_change", "asset_id": market.yes_token,
             "market": market.condition_id, "old_tick_size": "0.01", "new_tick_size": "0.005",
             "timestamp": "1"}
    books.apply_frame(json.dumps(frame), 1)
    assert seen == [(market.yes_token, parse_tick("0.005"))]
    # what the engine does on that callback: re-read /clob-markets, swap the pair in
    sim.exchange.set_tick(market, parse_tick("0.005"), 1)
    market.fee = PolymarketFeeModel.of("0.03", 1)
    fresh, why = await refresh_pair(config, pair)
    assert why is None and fresh.polymarket_tick == 50 and fresh.polymarket_fee == market.fee
    detector.replace_pair(fresh)
    assert detector.pairs[[p.name for p in detector.pairs].index(pair.name)] == fresh
    # a market that vanished leaves the pair with an unknown fee: it stops trading
    gone = dataclasses.replace(pair, polymarket_condition_id="0x" + "ab" * 32)
    stale, why = await refresh_pair(config, gone)
    assert why is not None and stale.polymarket_fee is None
    detector.replace_pair(dataclasses.replace(stale, polymarket_condition_id=None))
    assert pair.name in detector.refused
    # which order refusals mean the market moved
    assert market_changed(RejectedError("INVALID_ORDER_MIN_TICK_SIZE", "tick moved"))
    assert market_changed(RejectedError("INVALID_ORDER_ERROR", "invalid fee rate (0), current "
                                        "market's fee rate is 1000"))
    assert not market_changed(RejectedError("INVALID_ORDER_NOT_ENOUGH_BALANCE", "balance"))


async def test_the_arbiter_re_reads_a_market_on_a_tick_change_and_on_a_refusal(
    venues: LocalVenues,
) -> None:
    """The arbiter's own refresh path (no Ray: the methods the feed and executor callbacks call)."""
    import asyncio

    from arbiter.engine.arbiter import Arbiter

    assert venues.polymarket is not None
    config, _ = await refresh_market_data(load_config(venues.config_path))
    arb = object.__new__(Arbiter)  # only the state the refresh path reads
    arb.config, arb.detector, arb.tenants = config, build_detector(config), {}
    arb._pair_of = {t: p.name for p in config.pairs
                    for t in (p.polymarket_yes_token, p.polymarket_no_token)}
    arb._refreshing, arb._refresh_tasks = set(), set()
    arb.market_refused, arb.market_refreshes = {}, 0
    pair = next(p for p in config.pairs if p.name.startswith("fed"))
    market = next(m for m in venues.polymarket.exchange.markets.values()
                  if m.yes_token == pair.polymarket_yes_token)
    market.fee = PolymarketFeeModel.of("0.07", 1)
    arb._refresh_market(pair.polymarket_no_token)  # what MarketBooks.on_tick_change calls
    await asyncio.gather(*arb._refresh_tasks)
    (now,) = [p for p in arb.detector.pairs if p.name == pair.name]
    assert now.polymarket_fee == market.fee and arb.market_refreshes == 1
    market.min_order_size = 20 * ONE_CONTRACT
    arb._on_rejected("kalshi", pair.polymarket_yes_token, RejectedError("INVALID_ORDER_MIN_SIZE", "x"))
    arb._on_rejected("polymarket", pair.polymarket_yes_token,
                     RejectedError("INVALID_ORDER_NOT_ENOUGH_BALANCE", "balance"))
    assert not arb._refresh_tasks  # neither says the market changed
    arb._on_rejected("polymarket", pair.polymarket_yes_token,
                     RejectedError("INVALID_ORDER_MIN_SIZE", "size below the minimum"))
    await asyncio.gather(*arb._refresh_tasks)
    assert arb.detector.token_book(pair.polymarket_yes_token).min_order_size == 20 * ONE_CONTRACT
    assert arb.market_refreshes == 2 and arb.market_refused == {}
