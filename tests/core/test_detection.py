from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.book import Outcome
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.fees import PolymarketFeeModel, kalshi_taker
from arbiter.core.pairs import Pair
from arbiter.core.units import ONE_CONTRACT as ONE
from arbiter.core.units import PRICE_SCALE, Size, parse_money

C = 100
#: a stated fee-free Polymarket market: these tests are about routes and sizes, not fees
PAIR = Pair("p", "KX-1", "111", "222", max_contracts=None,
            polymarket_fee=PolymarketFeeModel.of("0"), polymarket_min_order_size=Size(0))
#: a politics market as it is live today: 0.04 taker fee, 5-share minimum
POLITICS = dataclasses.replace(PAIR, polymarket_fee=PolymarketFeeModel.of("0.04"),
                               polymarket_min_order_size=Size(5 * ONE))


def detector(pair: Pair = PAIR, **config: object) -> Detector:
    return Detector([pair], DetectionConfig(**config))  # type: ignore[arg-type]


def test_kalshi_yes_plus_polymarket_no() -> None:
    d = detector()
    d.kalshi_book("KX-1").apply_snapshot(yes=[(30 * C, 10 * ONE)], no=[(53 * C, 40 * ONE)], ts_ns=5)
    d.token_book("222").apply_snapshot(bids=[], asks=[(50 * C, 30 * ONE)], ts_ns=6)
    d.token_book("111").apply_snapshot(bids=[], asks=[(80 * C, 30 * ONE)], ts_ns=6)
    (opp,) = d.on_token("222", now_ns=10)
    assert opp.direction == "kalshi_yes_poly_no"
    assert opp.size == 30 * ONE
    kalshi, poly = opp.legs
    assert (kalshi.venue, kalshi.outcome, kalshi.limit_price) == ("kalshi", Outcome.YES, 47 * C)
    assert (poly.venue, poly.market, poly.outcome) == ("polymarket", "222", Outcome.NO)
    assert poly.limit_price == 50 * C
    assert (kalshi.book_ts_ns, poly.book_ts_ns, opp.detected_ns) == (5, 6, 10)
    assert opp.fees == kalshi_taker().order_fee([(47 * C, 30 * ONE)])
    assert opp.profit == 30 * ONE * (PRICE_SCALE - 97 * C) - opp.fees
    assert opp.cost == parse_money("29.10")


def test_kalshi_no_plus_polymarket_yes_and_inverted() -> None:
    d = detector()
    d.kalshi_book("KX-1").apply_snapshot(yes=[(56 * C, 10 * ONE)], no=[], ts_ns=1)  # NO ask 0.44
    d.token_book("111").apply_snapshot(bids=[], asks=[(50 * C, 10 * ONE)], ts_ns=1)
    (opp,) = d.on_kalshi("KX-1", now_ns=1)
    assert opp.direction == "kalshi_no_poly_yes"
    # the same books on an inverted pair: Kalshi NO is Polymarket YES, so no arbitrage ...
    inv = detector(dataclasses.replace(PAIR, inverted=True))
    inv.kalshi_book("KX-1").apply_snapshot(yes=[(56 * C, 10 * ONE)], no=[], ts_ns=1)
    inv.token_book("111").apply_snapshot(bids=[], asks=[(50 * C, 10 * ONE)], ts_ns=1)
    assert inv.on_kalshi("KX-1", now_ns=1) == []
    # ... but Kalshi NO + Polymarket NO is
    inv.token_book("222").apply_snapshot(bids=[], asks=[(50 * C, 10 * ONE)], ts_ns=1)
    (opp,) = inv.on_token("222", now_ns=1)
    assert opp.direction == "kalshi_no_poly_no"


def test_same_venue_polymarket() -> None:
    d = detector()
    d.token_book("111").apply_snapshot(bids=[], asks=[(45 * C, 10 * ONE)], ts_ns=1)
    d.token_book("222").apply_snapshot(bids=[], asks=[(52 * C, 10 * ONE)], ts_ns=1)
    (opp,) = d.on_token("111", now_ns=1)
    assert opp.direction == "poly_yes_poly_no"
    assert opp.profit == parse_money("0.30")
    assert detector(same_venue=False).on_token("111", now_ns=1) == []


def test_stale_books_are_skipped() -> None:
    d = detector(max_book_age_ns=100)
    d.token_book("111").apply_snapshot(bids=[], asks=[(45 * C, 10 * ONE)], ts_ns=1000)
    d.token_book("222").apply_snapshot(bids=[], asks=[(52 * C, 10 * ONE)], ts_ns=1000)
    assert len(d.on_token("111", now_ns=1100)) == 1
    assert d.on_token("111", now_ns=1101) == []


def test_age_and_blocked_books_are_counted_never_traded() -> None:
    d = detector(max_book_age_ns=100)
    stale: set[str] = set()
    halted: set[str] = set()
    d.block_when(stale)
    d.block_when(halted)
    d.token_book("111").apply_snapshot(bids=[], asks=[(45 * C, 10 * ONE)], ts_ns=1000)
    d.token_book("222").apply_snapshot(bids=[], asks=[(52 * C, 10 * ONE)], ts_ns=1000)
    assert len(d.on_token("111", now_ns=1050)) == 1
    stale.add("222")  # the feed is resyncing it: the live set is read, no copy
    assert d.on_token("111", now_ns=1050) == []
    stale.clear()
    halted.add("111")  # resolved market
    assert d.on_token("111", now_ns=1050) == []
    halted.clear()
    assert d.on_token("111", now_ns=1101) == []  # too old
    assert d.skipped == {"blocked:polymarket": 2, "age:polymarket": 1}


def test_caps_and_min_order_size() -> None:
    capped = dataclasses.replace(PAIR, max_contracts=3 * ONE)
    d = detector(capped, max_contracts=5 * ONE)
    d.token_book("111").apply_snapshot(bids=[], asks=[(45 * C, 10 * ONE)], ts_ns=1)
    d.token_book("222").apply_snapshot(bids=[], asks=[(52 * C, 10 * ONE)], ts_ns=1)
    assert d.on_token("111", now_ns=1)[0].size == 3 * ONE
    d.token_book("111").min_order_size = 20 * ONE
    assert d.on_token("111", now_ns=1) == []


def test_only_the_touched_pair_is_evaluated() -> None:
    other = dataclasses.replace(PAIR, name="q", kalshi_ticker="KX-2", polymarket_yes_token="333",
                                polymarket_no_token="444")
    d = Detector([PAIR, other])
    for token in ("111", "222"):
        d.token_book(token).apply_snapshot(bids=[], asks=[(45 * C, ONE)], ts_ns=1)
    assert d.on_token("333", now_ns=1) == []
    assert d.on_kalshi("KX-2", now_ns=1) == []
    assert [o.pair for o in d.on_token("111", now_ns=1)] == ["p"]
    assert d.on_token("999", now_ns=1) == []  # untracked ids are ignored


def test_unknown_polymarket_fee_is_never_traded() -> None:
    """Fail closed (ADR 0036): no fee stated -> the pair is tracked but no route is evaluated."""
    unknown = dataclasses.replace(PAIR, polymarket_fee=None)
    no_min = dataclasses.replace(PAIR, polymarket_min_order_size=None)
    for pair in (unknown, no_min):
        d = detector(pair)
        d.token_book("111").apply_snapshot(bids=[], asks=[(30 * C, 50 * ONE)], ts_ns=1)
        d.token_book("222").apply_snapshot(bids=[], asks=[(30 * C, 50 * ONE)], ts_ns=1)
        assert d.on_token("111", now_ns=1) == []
        assert "unknown" in d.refused["p"]


def test_the_fee_free_model_takes_what_the_live_fee_refuses() -> None:
    """The report's example: both Polymarket tokens at 0.49 + 0.505 (0.005 tick) is a 0.5c
    complete set; fee-free it looks like $0.50 on 100 shares, at the live politics fee
    (0.04 x p(1-p) ~ 1c a share on each leg) it loses money and is refused."""
    book = {"111": [(4900, 100 * ONE)], "222": [(5050, 100 * ONE)]}
    free = dataclasses.replace(PAIR, polymarket_tick=50)
    live = dataclasses.replace(POLITICS, polymarket_tick=50)
    found = {}
    for name, pair in (("free", free), ("live", live)):
        d = detector(pair)
        for token, asks in book.items():
            d.token_book(token).apply_snapshot(bids=[], asks=asks, ts_ns=1)
        found[name] = [o for o in d.on_token("111", now_ns=1) if o.direction == "poly_yes_poly_no"]
    (opp,) = found["free"]
    assert opp.size == 100 * ONE and opp.profit == parse_money("0.5") and opp.fees == 0
    assert found["live"] == []
    fee = PolymarketFeeModel.of("0.04")
    fees = fee.order_fee([(4900, 100 * ONE)]) + fee.order_fee([(5050, 100 * ONE)])
    assert fees == parse_money("1.9995")  # 0.9996 + 0.9999: the would-be loss is $1.4995


def test_a_cross_venue_window_the_live_fee_closes() -> None:
    """Kalshi YES at 0.48 + Polymarket NO at 0.50: fee-free it was 99 contracts for $0.25 (Kalshi
    fee $1.73); at the politics rate the Polymarket leg alone costs $0.99 and it is refused."""
    found = {}
    for rate in ("0", "0.04"):
        pair = dataclasses.replace(POLITICS, polymarket_fee=PolymarketFeeModel.of(rate))
        d = detector(pair)
        d.kalshi_book("KX-1").apply_snapshot(yes=[], no=[(52 * C, 100 * ONE)], ts_ns=1)
        d.token_book("222").apply_snapshot(bids=[], asks=[(50 * C, 100 * ONE)], ts_ns=1)
        found[rate] = d.on_token("222", now_ns=1)
    (opp,) = found["0"]
    assert (opp.size, opp.fees, opp.profit) == (99 * ONE, parse_money("1.73"), parse_money("0.25"))
    assert found["0.04"] == []
    pm_fee = PolymarketFeeModel.of("0.04").order_fee([(50 * C, 99 * ONE)])
    assert pm_fee == parse_money("0.99")  # the would-be result: 0.25 - 0.99 = -$0.74


def test_polymarket_minimum_comes_from_the_pair() -> None:
    d = detector(POLITICS)
    d.token_book("111").apply_snapshot(bids=[], asks=[(40 * C, 4 * ONE)], ts_ns=1)
    d.token_book("222").apply_snapshot(bids=[], asks=[(50 * C, 4 * ONE)], ts_ns=1)
    assert d.token_book("111").min_order_size == 5 * ONE
    assert d.on_token("111", now_ns=1) == []  # 4 shares < the 5-share minimum
    d.token_book("111").apply_snapshot(bids=[], asks=[(40 * C, 6 * ONE)], ts_ns=2)
    d.token_book("222").apply_snapshot(bids=[], asks=[(50 * C, 6 * ONE)], ts_ns=2)
    (opp,) = [o for o in d.on_token("111", now_ns=2) if o.direction == "poly_yes_poly_no"]
    assert opp.size >= 5 * ONE
    fee = PolymarketFeeModel.of("0.04")
    assert opp.fees == fee.order_fee([(40 * C, opp.size)]) + fee.order_fee([(50 * C, opp.size)])


levels = st.lists(st.tuples(st.integers(1, 99), st.integers(1, 30)), max_size=4, unique_by=lambda x: x[0])


@settings(max_examples=200, deadline=None)
@given(levels, levels, levels, levels, st.integers(0, 200))
def test_detection_never_reports_a_loss(
    yes: list[tuple[int, int]],
    no: list[tuple[int, int]],
    poly_yes: list[tuple[int, int]],
    poly_no: list[tuple[int, int]],
    edge: int,
) -> None:
    d = detector(min_edge=edge)
    k = d.kalshi_book("KX-1")
    yes_l = [(p * C, s * ONE) for p, s in yes]
    no_l = [(p * C, s * ONE) for p, s in no]
    if yes_l and no_l and max(yes_l)[0] + max(no_l)[0] >= PRICE_SCALE:
        return  # a crossed Kalshi book is refused by the book layer (tested there)
    k.apply_snapshot(yes_l, no_l, ts_ns=1)
    d.token_book("111").apply_snapshot([], [(p * C, s * ONE) for p, s in poly_yes], ts_ns=1)
    d.token_book("222").apply_snapshot([], [(p * C, s * ONE) for p, s in poly_no], ts_ns=1)
    for opp in d.evaluate("p", now_ns=1):
        assert opp.profit > 0
        assert opp.profit >= edge * opp.size  # every contract clears the hurdle on average
        assert opp.profit == opp.size * PRICE_SCALE - opp.cost - opp.fees
        assert opp.cost == sum(leg.cost for leg in opp.legs)
