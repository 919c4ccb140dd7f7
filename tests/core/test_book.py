from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.book import (
    CrossedBookError,
    InvalidUpdateError,
    KalshiBook,
    Ladder,
    Outcome,
    Side,
    TokenBook,
)
from arbiter.core.units import PRICE_SCALE

C = 100  # one cent in price units


def test_kalshi_asks_are_implied_by_opposite_bids() -> None:
    book = KalshiBook("T")
    book.apply_snapshot(yes=[(40 * C, 5), (41 * C, 7)], no=[(52 * C, 3), (55 * C, 9)], ts_ns=1)
    assert book.best_bid(Outcome.YES) == 41 * C
    assert book.best_bid(Outcome.NO) == 55 * C
    assert book.best_ask(Outcome.YES) == PRICE_SCALE - 55 * C
    assert book.best_ask(Outcome.NO) == PRICE_SCALE - 41 * C
    assert list(book.asks(Outcome.YES)) == [(45 * C, 9), (48 * C, 3)]
    assert book.asks(Outcome.YES).best_size == 9


def test_kalshi_delta_and_best_rescan() -> None:
    book = KalshiBook("T")
    book.apply_snapshot(yes=[(40 * C, 5), (30 * C, 2)], no=[], ts_ns=1)
    book.apply_delta(Outcome.YES, 40 * C, -5, ts_ns=2)
    assert book.best_bid(Outcome.YES) == 30 * C
    assert book.ts_ns == 2
    book.apply_delta(Outcome.YES, 30 * C, -2, ts_ns=3)
    assert book.best_bid(Outcome.YES) is None
    assert book.best_ask(Outcome.NO) is None


def test_kalshi_rejects_bad_updates_and_keeps_state() -> None:
    book = KalshiBook("T")
    book.apply_snapshot(yes=[(40 * C, 5)], no=[(50 * C, 5)], ts_ns=1)
    with pytest.raises(InvalidUpdateError, match="negative"):
        book.apply_delta(Outcome.YES, 40 * C, -6, ts_ns=2)
    with pytest.raises(InvalidUpdateError, match="tick"):
        book.apply_delta(Outcome.YES, 40 * C + 50, 1, ts_ns=2)
    with pytest.raises(InvalidUpdateError, match="outside"):
        book.apply_delta(Outcome.YES, PRICE_SCALE, 1, ts_ns=2)
    with pytest.raises(CrossedBookError):
        book.apply_delta(Outcome.YES, 50 * C, 1, ts_ns=2)  # 0.50 + 0.50 >= 1
    assert book.best_bid(Outcome.YES) == 40 * C
    assert book.yes_bids.size_at(50 * C) == 0
    assert book.ts_ns == 1
    with pytest.raises(CrossedBookError):
        book.apply_snapshot(yes=[(60 * C, 1)], no=[(45 * C, 1)], ts_ns=3)
    with pytest.raises(InvalidUpdateError, match="repeats"):
        book.apply_snapshot(yes=[(10 * C, 1), (10 * C, 2)], no=[], ts_ns=3)
    assert list(book.yes_bids) == [(40 * C, 5)]


def test_views_survive_snapshots() -> None:
    book = KalshiBook("T")
    view = book.asks(Outcome.YES)
    book.apply_snapshot(yes=[], no=[(60 * C, 4)], ts_ns=1)
    assert view.best_price == 40 * C


def test_token_book_set_level_and_cross() -> None:
    book = TokenBook("123")
    book.apply_snapshot(bids=[(48 * C, 30), (49 * C, 20)], asks=[(52 * C, 25), (53 * C, 60)], ts_ns=1)
    assert (book.best_bid, book.best_ask) == (49 * C, 52 * C)
    book.set_level(Side.ASK, 52 * C, 0, ts_ns=2)
    assert book.best_ask == 53 * C
    with pytest.raises(CrossedBookError):
        book.set_level(Side.BID, 53 * C, 1, ts_ns=3)
    assert book.best_bid == 49 * C
    with pytest.raises(InvalidUpdateError):
        book.set_level(Side.BID, 40 * C, -1, ts_ns=3)
    with pytest.raises(CrossedBookError):
        book.apply_snapshot(bids=[(50 * C, 1)], asks=[(50 * C, 1)], ts_ns=4)
    assert book.ask_view().best_price == 53 * C


def test_tick_size_change_is_all_or_nothing() -> None:
    book = TokenBook("1", tick=100)
    book.apply_snapshot(bids=[(40 * C, 1)], asks=[(60 * C, 1)], ts_ns=1)
    book.set_tick(10, ts_ns=2)
    book.set_level(Side.BID, 4050, 3, ts_ns=3)
    assert book.best_bid == 4050
    with pytest.raises(InvalidUpdateError):
        book.set_tick(100, ts_ns=4)  # 0.405 is off the 0.01 grid
    assert book.tick == 10
    assert book.best_bid == 4050


def test_depth_iterates_best_outward() -> None:
    ladder = Ladder(100, is_bid=False)
    ladder.load([(70 * C, 1), (60 * C, 2), (65 * C, 3)])
    assert ladder.depth(2) == [(60 * C, 2), (65 * C, 3)]
    assert ladder.total == 6


# --- property: a ladder is always equal to a dict model and its best is right -----------------
updates = st.lists(
    st.tuples(st.sampled_from([Outcome.YES, Outcome.NO]), st.integers(1, 99), st.integers(-50, 50)),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(updates)
def test_kalshi_book_matches_model_under_random_deltas(stream: list[tuple[Outcome, int, int]]) -> None:
    book = KalshiBook("T")
    model: dict[Outcome, dict[int, int]] = {Outcome.YES: {}, Outcome.NO: {}}
    for outcome, cents, delta in stream:
        price = cents * C
        before = model[outcome].get(price, 0)
        after = before + delta
        trial = {o: dict(levels) for o, levels in model.items()}
        trial[outcome][price] = after
        yes = [p for p, s in trial[Outcome.YES].items() if s > 0]
        no = [p for p, s in trial[Outcome.NO].items() if s > 0]
        crossed = bool(yes and no and max(yes) + max(no) >= PRICE_SCALE)
        if after < 0:
            with pytest.raises(InvalidUpdateError):
                book.apply_delta(outcome, price, delta, ts_ns=1)
        elif crossed and after > before:
            with pytest.raises(CrossedBookError):
                book.apply_delta(outcome, price, delta, ts_ns=1)
        else:
            book.apply_delta(outcome, price, delta, ts_ns=1)
            model = trial
        for side in (Outcome.YES, Outcome.NO):
            live = {p: s for p, s in model[side].items() if s > 0}
            assert dict(book.bids(side)) == live
            assert book.best_bid(side) == (max(live) if live else None)
            assert list(book.bids(side)) == sorted(live.items(), reverse=True)
        yb, nb = book.best_bid(Outcome.YES), book.best_bid(Outcome.NO)
        assert yb is None or nb is None or yb + nb < PRICE_SCALE


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 99), st.integers(0, 30)), max_size=300))
def test_token_book_never_crossed_and_matches_model(stream: list[tuple[bool, int, int]]) -> None:
    book = TokenBook("1")
    model: dict[bool, dict[int, int]] = {True: {}, False: {}}
    for is_bid, cents, size in stream:
        price = cents * C
        trial = {k: dict(v) for k, v in model.items()}
        trial[is_bid][price] = size
        bids = [p for p, s in trial[True].items() if s]
        asks = [p for p, s in trial[False].items() if s]
        side = Side.BID if is_bid else Side.ASK
        if bids and asks and max(bids) >= min(asks) and size > model[is_bid].get(price, 0):
            with pytest.raises(CrossedBookError):
                book.set_level(side, price, size, ts_ns=1)
        else:
            book.set_level(side, price, size, ts_ns=1)
            model = trial
        live_bids = {p: s for p, s in model[True].items() if s}
        live_asks = {p: s for p, s in model[False].items() if s}
        assert dict(book.bids) == live_bids and dict(book.asks) == live_asks
        assert book.best_bid == (max(live_bids) if live_bids else None)
        assert book.best_ask == (min(live_asks) if live_asks else None)
        assert list(book.asks) == sorted(live_asks.items())
