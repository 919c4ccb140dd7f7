"""Kalshi price level structures: legal prices, the book's refusal of off-grid levels, and the
detection / hedge prices that must land on the market's grid."""

from __future__ import annotations

import pytest

from arbiter.core.book import KalshiBook, OffGridLevelError, Outcome
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.fees import KalshiFeeModel, NoFees, PolymarketFeeModel
from arbiter.core.hedge import HedgeConfig, HedgeInput, HedgeVenue, MarketView, decide_hedge
from arbiter.core.pairs import Pair, PairsError, parse_pairs
from arbiter.core.price_grid import STRUCTURES, OffGridError, PriceGrid, PriceGridError
from arbiter.core.saga import LegPlan
from arbiter.core.units import ONE_CONTRACT as ONE
from arbiter.core.units import Money, Price, Size

TAPERED = STRUCTURES["tapered_deci_cent"]


def test_structures_are_the_documented_grids() -> None:
    assert STRUCTURES["linear_cent"].is_uniform and STRUCTURES["linear_cent"].tick == 100
    assert STRUCTURES["deci_cent"].is_uniform and STRUCTURES["deci_cent"].tick == 10
    assert TAPERED.tick == 10 and not TAPERED.is_uniform
    legal = [p for p in range(1, 10_000) if TAPERED.contains(p)]
    assert legal[:3] == [10, 20, 30] and legal[-3:] == [9970, 9980, 9990]
    assert 550 in legal and 1000 in legal and 1100 in legal and 9010 in legal
    assert 1050 not in legal and 8990 not in legal and 1555 not in legal
    assert len(legal) == 99 + 81 + 99  # 0.001..0.099, 0.10..0.90, 0.901..0.999
    with pytest.raises(PriceGridError, match="unknown price level structure 'quarter_cent'"):
        PriceGrid.structure("quarter_cent")


def test_rounding_onto_the_grid() -> None:
    assert (TAPERED.floor(1555), TAPERED.ceil(1555)) == (1500, 1600)
    assert (TAPERED.floor(955), TAPERED.ceil(955)) == (950, 960)
    assert (TAPERED.floor(1005), TAPERED.ceil(1005)) == (1000, 1100)
    assert TAPERED.floor(5) is None and TAPERED.ceil(9995) is None
    with pytest.raises(OffGridError, match=r"KXBTC15M: price 0\.1550 is not on the market's price"):
        TAPERED.check(1550, "KXBTC15M")


def test_the_book_refuses_levels_off_the_markets_grid() -> None:
    book = KalshiBook("KXT", grid=TAPERED)
    book.apply_snapshot(yes=[(550, ONE), (1500, ONE)], no=[(8400, ONE)], ts_ns=1)
    book.apply_delta(Outcome.YES, 560, ONE, 2)
    with pytest.raises(OffGridLevelError, match=r"KXT: yes bid 0\.1550 is not on the market's"):
        book.apply_delta(Outcome.YES, 1550, ONE, 3)
    with pytest.raises(OffGridLevelError, match=r"KXT: no bid 0\.8950"):
        book.apply_snapshot(yes=[], no=[(8950, ONE)], ts_ns=4)
    with pytest.raises(OffGridLevelError):
        book.set_level(Outcome.NO, 1050, ONE, 5)
    assert book.best_bid(Outcome.YES) == 1500 and book.ts_ns == 2  # nothing was applied


def test_pairs_name_the_structure() -> None:
    base = ('[[pair]]\nname = "a"\nkalshi_ticker = "KXA-1"\npolymarket_yes_token = "1"\n'
            'polymarket_no_token = "2"\n')
    (pair,) = parse_pairs(base + 'kalshi_price_level_structure = "tapered_deci_cent"\n')
    assert pair.kalshi_price_grid == TAPERED and pair.kalshi_tick == 10
    (legacy,) = parse_pairs(base + 'kalshi_tick_size = "0.001"\n')
    assert legacy.kalshi_price_grid == STRUCTURES["deci_cent"]
    (plain,) = parse_pairs(base)
    assert plain.kalshi_price_grid == STRUCTURES["linear_cent"]
    with pytest.raises(PairsError, match="must be one of linear_cent"):
        parse_pairs(base + 'kalshi_price_level_structure = "quarter_cent"\n')
    with pytest.raises(PairsError, match="contradicts"):
        parse_pairs(base + 'kalshi_tick_size = "0.01"\nkalshi_price_level_structure = "deci_cent"\n')


def test_detection_prices_a_tail_level_on_a_tapered_market() -> None:
    pair = Pair("p", "KX-1", "111", "222", kalshi_tick=10, kalshi_grid=TAPERED,
                polymarket_fee=PolymarketFeeModel.of("0"), polymarket_min_order_size=Size(0))
    d = Detector([pair], DetectionConfig())
    # Kalshi NO bid 0.945 -> YES ask 0.055 (a deci-cent tail level); Polymarket NO ask 0.90
    d.kalshi_book("KX-1").apply_snapshot(yes=[(500, 10 * ONE)], no=[(9450, 10 * ONE)], ts_ns=5)
    d.token_book("222").apply_snapshot(bids=[], asks=[(9000, 10 * ONE)], ts_ns=6)
    d.token_book("111").apply_snapshot(bids=[], asks=[(9900, 10 * ONE)], ts_ns=6)
    (opp,) = d.on_token("222", now_ns=10)
    kalshi = opp.legs[0]
    assert (kalshi.outcome, kalshi.limit_price) == (Outcome.YES, 550)
    assert TAPERED.contains(kalshi.limit_price)


def test_hedge_limits_land_on_a_tapered_grid() -> None:
    venue = HedgeVenue(tick=10, lot=10_000, min_size=0, fee=KalshiFeeModel(), grid=TAPERED)
    poly = HedgeVenue(tick=100, lot=10_000, min_size=0, fee=NoFees())
    cfg = HedgeConfig(max_slippage=55, max_unwind_slippage=1000, max_attempts=1)
    held = HedgeInput(Size(10 * ONE), Money(4000 * 10 * ONE), Money(0), Price(1500), 1)
    d = decide_hedge(held, venue, poly, cfg, MarketView())
    # 0.15 + 0.0055 slippage = 0.1555: on a uniform 0.001 grid 0.155, here the 0.01 step: 0.15
    assert d.complete.limit == 1500
    uniform = HedgeVenue(tick=10, lot=10_000, min_size=0, fee=KalshiFeeModel())
    assert decide_hedge(held, uniform, poly, cfg, MarketView()).complete.limit == 1550


def test_a_leg_plan_carries_the_grid_through_its_journal_form() -> None:
    leg = LegPlan("kalshi", "KX-1", Outcome.YES, 550, 10, 10_000, 0, "kalshi_series", "1/1",
                  TAPERED.text())
    again = LegPlan.from_dict(leg.to_dict())
    assert again.hedge_venue().grid == TAPERED
    old = leg.to_dict()
    del old["grid"]  # written before grids were journaled
    assert LegPlan.from_dict(old).hedge_venue().grid is None
