from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.book import Outcome
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.fees import kalshi_taker
from arbiter.core.pairs import Pair
from arbiter.core.units import ONE_CONTRACT as ONE
from arbiter.core.units import PRICE_SCALE, parse_money

C = 100
PAIR = Pair("p", "KX-1", "111", "222", max_contracts=None)


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
    other = Pair("q", "KX-2", "333", "444")
    d = Detector([PAIR, other])
    for token in ("111", "222"):
        d.token_book(token).apply_snapshot(bids=[], asks=[(45 * C, ONE)], ts_ns=1)
    assert d.on_token("333", now_ns=1) == []
    assert d.on_kalshi("KX-2", now_ns=1) == []
    assert [o.pair for o in d.on_token("111", now_ns=1)] == ["p"]
    assert d.on_token("999", now_ns=1) == []  # untracked ids are ignored


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
