from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.fees import KalshiFeeModel, NoFees, PolymarketFeeModel, kalshi_maker, kalshi_taker
from arbiter.core.units import PRICE_SCALE, SIZE_SCALE, UnitError, parse_money, parse_price


def test_kalshi_vectors(venue_vectors: dict[str, Any]) -> None:
    for row in venue_vectors["kalshi"]["fee_formula"]:
        fills = [(parse_price(row["price_dollars"]), row["contracts"] * SIZE_SCALE)]
        assert kalshi_taker().order_fee(fills) == parse_money(row["taker_fee_dollars"]), row
        assert kalshi_maker().order_fee(fills) == parse_money(row["maker_fee_dollars"]), row


@pytest.mark.parametrize(
    ("contracts", "price", "fee"),
    [
        (1, "0.50", "0.02"),  # 0.0175 rounds up
        (10, "0.50", "0.18"),  # 0.175
        (100, "0.35", "1.60"),  # 1.5925
        (4, "0.50", "0.07"),  # exactly 0.07: no rounding up
        (400, "0.50", "7.00"),  # exactly 7.00
        (0, "0.50", "0"),
    ],
)
def test_kalshi_rounding_boundaries(contracts: int, price: str, fee: str) -> None:
    assert kalshi_taker().order_fee([(parse_price(price), contracts * SIZE_SCALE)]) == parse_money(fee)


def test_kalshi_fee_is_per_order_not_per_fill() -> None:
    p = parse_price("0.50")
    assert kalshi_taker().order_fee([(p, SIZE_SCALE), (p, SIZE_SCALE)]) == parse_money("0.04")
    fills = [(p, SIZE_SCALE), (parse_price("0.45"), SIZE_SCALE)]
    # 0.07 x (0.25 + 0.2475) = 0.034825 -> 0.04 (per-fill rounding would charge 0.02 + 0.02)
    assert kalshi_taker().order_fee(fills) == parse_money("0.04")


def test_kalshi_multiplier_is_exact() -> None:
    half = KalshiFeeModel.of("0.035")
    assert half.multiplier == Fraction(35, 1000)
    assert half.order_fee([(parse_price("0.50"), 10 * SIZE_SCALE)]) == parse_money("0.09")
    with pytest.raises(UnitError):
        KalshiFeeModel.of(0.07)  # type: ignore[arg-type]


def test_polymarket_fees() -> None:
    assert PolymarketFeeModel(0).order_fee([(5000, 10 * SIZE_SCALE)]) == 0
    model = PolymarketFeeModel(1000)  # 10 %
    # BUY 10 tokens at 0.50: 0.1 x 0.5 x 10 / 0.5 = 1 token -> $1 worst case
    assert model.fee_tokens(5000, 10 * SIZE_SCALE) == SIZE_SCALE
    assert model.order_fee([(5000, 10 * SIZE_SCALE)]) == parse_money("1")
    # at 0.80 the fee uses min(p, 1-p) = 0.2: 0.1 x 0.2 x 10 / 0.8 = 0.25 tokens
    assert model.fee_tokens(8000, 10 * SIZE_SCALE) == SIZE_SCALE // 4
    # rounding is up to the 6-decimal token unit: 0.1 x 0.3 x 1e-6 / 0.7 -> 1 unit
    assert model.fee_tokens(7000, 1) == 1
    # SELL fee in collateral: 0.1 x 0.2 x 10 = $0.20
    assert model.sell_fee(8000, 10 * SIZE_SCALE) == parse_money("0.2")
    with pytest.raises(UnitError):
        PolymarketFeeModel(20_000)
    assert NoFees().order_fee([(5000, SIZE_SCALE)]) == 0


@given(
    st.lists(st.tuples(st.integers(1, PRICE_SCALE - 1), st.integers(0, 10**9)), max_size=6),
    st.sampled_from([kalshi_taker(), kalshi_maker(), PolymarketFeeModel(150), PolymarketFeeModel(0)]),
)
def test_smooth_rate_is_a_lower_bound(fills: list[tuple[int, int]], model: Any) -> None:
    smooth = sum((model.smooth_rate(p) * s for p, s in fills), Fraction(0))
    fee = model.order_fee(fills)
    assert smooth <= fee
    assert fee >= 0


@pytest.mark.parametrize("model", [kalshi_taker(), kalshi_maker(), KalshiFeeModel.of("0.035"),
                                   PolymarketFeeModel(150), PolymarketFeeModel(1), NoFees()])
def test_rate_floor_is_the_floored_smooth_rate_at_every_price(model: Any) -> None:
    """The sizing search's integer bound equals the Fraction one on the whole price grid."""
    for price in range(1, PRICE_SCALE):
        rate = model.smooth_rate(price)
        assert model.rate_floor(price) == rate.numerator // rate.denominator, price
