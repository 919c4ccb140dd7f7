"""Positions and PnL: exact cost basis, realised/unrealised split, fees apart, settlement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.book import Outcome
from arbiter.core.positions import PositionBook, PositionError
from tests.execution.factories import PAIR, C


def test_average_cost_and_realised_pnl_on_partial_sales() -> None:
    book = PositionBook()
    book.apply_fill("kalshi", "K", Outcome.YES, "buy", 10 * C, 4000 * 10 * C, fee=100)
    book.apply_fill("kalshi", "K", Outcome.YES, "buy", 10 * C, 5000 * 10 * C)
    pos = book.get("kalshi", "K", Outcome.YES)
    assert pos.average_price() == 4500
    book.apply_fill("kalshi", "K", Outcome.YES, "sell", 5 * C, 6000 * 5 * C, fee=50)
    assert pos.size == 15 * C and pos.realised == 1500 * 5 * C and pos.fees == 150
    pnl = book.pnl({pos.key: 5000})
    assert pnl.unrealised == 500 * 15 * C
    assert pnl.net == pnl.realised + pnl.unrealised - 150


def test_selling_more_than_held_is_refused() -> None:
    book = PositionBook()
    book.apply_fill("polymarket", "T", Outcome.NO, "buy", C, 5000 * C)
    with pytest.raises(PositionError):
        book.apply_fill("polymarket", "T", Outcome.NO, "sell", 2 * C, 5000 * C)
    with pytest.raises(PositionError):
        book.apply_fill("polymarket", "T", Outcome.NO, "hold", C, 0)
    with pytest.raises(PositionError):
        book.apply_fill("polymarket", "T", Outcome.NO, "buy", -1, 0)


@pytest.mark.parametrize("winner", [Outcome.YES, Outcome.NO])
def test_a_paired_position_pays_exactly_one_per_contract_minus_fees(winner: Outcome) -> None:
    book = PositionBook()
    book.apply_fill("kalshi", PAIR.kalshi_ticker, Outcome.YES, "buy", 10 * C, 4000 * 10 * C, fee=17 * 10**8)
    book.apply_fill("polymarket", PAIR.polymarket_no_token, Outcome.NO, "buy", 10 * C, 5500 * 10 * C)
    total = book.settle_pair(PAIR, winner)
    assert total == (10_000 - 4000 - 5500) * 10 * C
    pnl = book.pnl()
    assert pnl.realised == total and pnl.fees == 17 * 10**8
    assert pnl.net == total - 17 * 10**8
    assert not book.open_positions() and all(p.settled for p in book if p.basis == 0 and p.realised)


def test_holdings_views() -> None:
    book = PositionBook()
    book.apply_fill("kalshi", "K", Outcome.YES, "buy", 2 * C, 8000 * C)
    book.apply_fill("polymarket", "T", Outcome.YES, "buy", 1 * C, 3000 * C)
    assert book.net_sizes() == {("kalshi", "K", Outcome.YES): 2 * C, ("polymarket", "T", Outcome.YES): C}
    assert book.venue_basis() == {"kalshi": 8000 * C, "polymarket": 3000 * C}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 50), st.integers(1, 9999)), min_size=1, max_size=30))
def test_realised_plus_basis_always_equals_the_cash_flows(trades: list[tuple[bool, int, int]]) -> None:
    book = PositionBook()
    cash = 0
    for is_buy, n, px in trades:
        pos = book.get("kalshi", "K", Outcome.YES)
        size = n * 10_000
        if not is_buy and size > pos.size:
            continue
        book.apply_fill("kalshi", "K", Outcome.YES, "buy" if is_buy else "sell", size, px * size)
        cash += -px * size if is_buy else px * size
    pos = book.get("kalshi", "K", Outcome.YES)
    assert pos.realised - pos.basis == cash
    assert pos.basis >= 0 and (pos.size > 0 or pos.basis == 0)
