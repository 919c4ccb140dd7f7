from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.fees import (
    POLYMARKET_FEE_QUANTUM,
    KalshiFeeError,
    KalshiFeeModel,
    KalshiSeriesFees,
    NoFees,
    PolymarketFeeModel,
    fraction_text,
    kalshi_maker,
    kalshi_taker,
    parse_fee_type,
)
from arbiter.core.units import (
    CENT,
    MONEY_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    UnitError,
    parse_money,
    parse_price,
    parse_size,
)


def test_kalshi_vectors(venue_vectors: dict[str, Any]) -> None:
    """The vectors apply ``ceil_to_cent`` to the fee alone; on a cent-aligned notional that is
    exactly the venue's net fee. On a sub-cent notional (the $0.055 row) the docs' balance
    rounding charges ``ceil_to_cent(N + fee) - N`` instead: the vector is never below it."""
    for row in venue_vectors["kalshi"]["fee_formula"]:
        price = parse_price(row["price_dollars"], 10)
        fills = [(price, row["contracts"] * SIZE_SCALE)]
        notional = price * row["contracts"] * SIZE_SCALE
        for model, key in ((kalshi_taker(), "taker"), (kalshi_maker(), "maker")):
            vector = parse_money(row[f"{key}_fee_dollars"])
            if notional % CENT == 0:
                assert model.order_fee(fills) == vector, row
            else:
                raw = parse_money(row[f"{key}_raw"])
                fee4 = -(-raw // (CENT // 100)) * (CENT // 100)
                assert model.order_fee(fills) == -(-(notional + fee4) // CENT) * CENT - notional
                assert model.order_fee(fills) <= vector, row


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


def test_kalshi_multiplier_is_the_series_multiplier_on_the_schedule() -> None:
    half = KalshiFeeModel.of("0.5")
    assert half.multiplier == Fraction(1, 2)
    assert half.rate == Fraction(35, 1000)
    # 0.5 x 0.07 x 10 x 0.25 = 0.0875 -> $0.09
    assert half.order_fee([(parse_price("0.50"), 10 * SIZE_SCALE)]) == parse_money("0.09")
    with pytest.raises(UnitError):
        KalshiFeeModel.of(0.07)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fee_type", "maker_fee"),
    [("quadratic", "0"), ("quadratic_with_maker_fees", "0.05"),  # 0.0175 x 2.5 = 0.04375
     ("quadratic_with_combo_maker_fees", "0.09")],  # 0.035 x 2.5 = 0.0875
)
def test_series_fee_types_price_makers_as_the_schedule_says(fee_type: str, maker_fee: str) -> None:
    fees = KalshiSeriesFees.of(fee_type, "1")
    fills = [(parse_price("0.50"), 10 * SIZE_SCALE)]
    assert fees.taker.order_fee(fills) == parse_money("0.18")
    assert fees.maker.order_fee(fills) == parse_money(maker_fee)


def test_unknown_or_flat_fee_types_fail_closed() -> None:
    with pytest.raises(KalshiFeeError, match="unknown Kalshi fee type 'tiered'"):
        KalshiSeriesFees.of("tiered", "1")
    with pytest.raises(KalshiFeeError, match="unknown Kalshi fee type None"):
        parse_fee_type(None)
    with pytest.raises(KalshiFeeError, match="'flat'"):
        KalshiSeriesFees.of("flat", "1")
    with pytest.raises(KalshiFeeError, match="negative"):
        KalshiSeriesFees.of("quadratic", "-0.5")


@pytest.mark.parametrize(
    ("contracts", "price", "fee"),
    [
        # docs /getting_started/fee_rounding, "buy 3 contracts at $0.055": trade fee 0.07 x 3 x
        # 0.055 x 0.945 = 0.01091475 -> $0.0110; balance change -0.165 - 0.0110 floored to the
        # cent = -0.18, so the order's net fee is 0.18 - 0.165 = $0.015
        ("3", "0.055", "0.015"),
        ("1", "0.019", "0.011"),  # 0.0013 trade fee; 0.019 + 0.0014 -> 0.03
        ("2.5", "0.50", "0.05"),  # fractional count: 0.04375 -> 0.0438; 1.25 + 0.0438 -> 1.30
        ("1", "0.001", "0.009"),  # 0.0000699 -> 0.0001; 0.0011 -> 0.01
    ],
)
def test_sub_cent_notional_is_charged_as_the_balance_rounding_of_the_docs(
    contracts: str, price: str, fee: str
) -> None:
    fills = [(parse_price(price, 10), parse_size(contracts, 2))]
    assert kalshi_taker().order_fee(fills) == parse_money(fee)


def test_a_sell_rounds_the_credit_down() -> None:
    # selling 3 at $0.055: credit 0.165 - 0.0110 = 0.154 floored to 0.15 -> net fee $0.015
    fills = [(parse_price("0.055", 10), 3 * SIZE_SCALE)]
    assert kalshi_taker().sell_fee(fills) == parse_money("0.015")
    # on cent prices buy and sell agree
    assert kalshi_taker().sell_fee([(5000, 10 * SIZE_SCALE)]) == parse_money("0.18")


def test_polymarket_fee_formula_and_rounding() -> None:
    """docs /trading/fees: C x rate x p(1-p) per match, in pUSD, floored to $0.00001."""
    politics = PolymarketFeeModel.of("0.04", 1)
    assert politics.rate == Fraction(1, 25)
    # 100 shares at 0.50: 100 x 0.04 x 0.25 = $1.00 exactly (no rounding either way)
    assert politics.match_fee(5000, 100 * SIZE_SCALE) == parse_money("1")
    assert politics.level_term(5000, 100 * SIZE_SCALE) == parse_money("1")
    # 7 shares at 0.33: 7 x 0.04 x 0.33 x 0.67 = 0.061908 -> venue floors to 0.06190,
    # the detector's estimate rounds the level up to 0.06191 (never below the charge)
    assert politics.exact(3300, 7 * SIZE_SCALE) == Fraction(parse_money("0.061908"))
    assert politics.match_fee(3300, 7 * SIZE_SCALE) == parse_money("0.0619")
    assert politics.level_term(3300, 7 * SIZE_SCALE) == parse_money("0.06191")
    assert politics.order_fee([(3300, 7 * SIZE_SCALE)]) == parse_money("0.06191")
    # the curve is symmetric: buying the complement at 0.67 costs the same fee
    assert politics.match_fee(6700, 7 * SIZE_SCALE) == politics.match_fee(3300, 7 * SIZE_SCALE)
    # a dust match below $0.00001 is charged nothing by the venue, estimated at $0.00001
    assert politics.match_fee(100, 1) == 0
    assert politics.level_term(100, 1) == POLYMARKET_FEE_QUANTUM
    # exponent 2: 100 x 0.25 x (0.5 x 0.5)^2 = $1.5625
    crypto2 = PolymarketFeeModel.of("0.25", 2)
    assert crypto2.match_fee(5000, 100 * SIZE_SCALE) == parse_money("1.5625")
    # a fee-free market is stated, never assumed: rate 0 charges nothing
    free = PolymarketFeeModel.of("0", 1)
    assert free.free and free.order_fee([(5000, 10 * SIZE_SCALE)]) == 0
    assert NoFees().order_fee([(5000, SIZE_SCALE)]) == 0


def test_polymarket_fee_matches_a_live_v2_fill() -> None:
    """py-clob-client-v2 issue #107: taker BUY 25 @ 0.13 on an fd.r 0.05 market, full 25 shares
    received, pUSD 388.39 -> 385.00 (3.25 notional + 0.14 fee at the cent)."""
    model = PolymarketFeeModel.of("0.05", 1)
    fee = model.match_fee(parse_price("0.13"), 25 * SIZE_SCALE)
    assert fee == parse_money("0.14137")  # 0.141375 floored to 1e-5
    spent = parse_price("0.13") * 25 * SIZE_SCALE + fee
    assert round(Fraction(spent, parse_money("0.01"))) == 339


@pytest.mark.parametrize(("rate", "exponent"), [("0.07", 1), ("0.03", 1), ("0.25", 2), ("0.05", 1)])
def test_polymarket_fee_agrees_with_the_official_sdk(rate: str, exponent: int) -> None:
    """py-clob-client-v2 1.2.1 ``fees.adjust_buy_amount_for_fees``: a balance-bound market BUY
    keeps ``balance - platform_fee``, so the SDK's fee is what it subtracts (floats)."""
    from py_clob_client_v2.fees import adjust_buy_amount_for_fees

    model = PolymarketFeeModel.of(rate, exponent)
    for price_text in ("0.01", "0.13", "0.42", "0.5", "0.77", "0.999"):
        price = parse_price(price_text)
        for shares in (5, 37, 1000):
            notional = float(price_text) * shares
            sdk_fee = notional - adjust_buy_amount_for_fees(
                notional, float(price_text), notional, float(rate), exponent, 0.0
            )
            exact = model.exact(price, shares * SIZE_SCALE) / MONEY_SCALE
            assert abs(float(exact) - sdk_fee) < 1e-9, (price_text, shares)
            charged = model.match_fee(price, shares * SIZE_SCALE)
            assert 0 <= exact * MONEY_SCALE - charged < POLYMARKET_FEE_QUANTUM


def test_polymarket_fee_model_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(UnitError):
        PolymarketFeeModel.of(0.04)  # type: ignore[arg-type]
    with pytest.raises(UnitError):
        PolymarketFeeModel.of("1.5")
    with pytest.raises(UnitError):
        PolymarketFeeModel.of("0.04", 5)
    with pytest.raises(UnitError):
        PolymarketFeeModel(0.04)  # type: ignore[arg-type]


def test_maker_rebate_is_a_floored_share_of_the_fee() -> None:
    model = PolymarketFeeModel.of("0.04", 1)
    fee = model.match_fee(5000, 100 * SIZE_SCALE)
    assert model.maker_rebate(5000, 100 * SIZE_SCALE, Fraction(1, 4)) == fee // 4
    assert model.maker_rebate(5000, 100 * SIZE_SCALE, Fraction(0)) == 0


def test_fraction_text_is_exact() -> None:
    assert [fraction_text(Fraction(x)) for x in ("0.04", "0.07", "0", "1", "0.0025")] == [
        "0.04", "0.07", "0", "1", "0.0025"]
    with pytest.raises(UnitError):
        fraction_text(Fraction(1, 3))


@given(
    st.lists(st.tuples(st.integers(1, PRICE_SCALE - 1), st.integers(0, 10**9)), max_size=6),
    st.sampled_from([kalshi_taker(), kalshi_maker(), PolymarketFeeModel.of("0.04"),
                    PolymarketFeeModel.of("0.25", 2), PolymarketFeeModel.of("0")]),
)
def test_smooth_rate_is_a_lower_bound(fills: list[tuple[int, int]], model: Any) -> None:
    smooth = sum((model.smooth_rate(p) * s for p, s in fills), Fraction(0))
    fee = model.order_fee(fills)
    assert smooth <= fee
    assert fee >= 0


@pytest.mark.parametrize("model", [kalshi_taker(), kalshi_maker(), KalshiFeeModel.of("0.5"),
                                   PolymarketFeeModel.of("0.07"), PolymarketFeeModel.of("0.0001"),
                                   PolymarketFeeModel.of("0.25", 2), NoFees()])
def test_rate_floor_is_the_floored_smooth_rate_at_every_price(model: Any) -> None:
    """The sizing search's integer bound equals the Fraction one on the whole price grid."""
    for price in range(1, PRICE_SCALE):
        rate = model.smooth_rate(price)
        assert model.rate_floor(price) == rate.numerator // rate.denominator, price


@given(
    st.lists(st.tuples(st.integers(1, PRICE_SCALE - 1), st.integers(1, 10**8)), min_size=1,
             max_size=5),
    st.sampled_from([PolymarketFeeModel.of("0.04"), PolymarketFeeModel.of("0.07"),
                     PolymarketFeeModel.of("0.25", 2)]),
    st.booleans(),
)
def test_the_order_fee_bound_is_never_below_the_matches_charge(
    matches: list[tuple[int, int]], model: PolymarketFeeModel, buy: bool
) -> None:
    """An order answer's fee (no per-match breakdown) bounds what the venue charged its matches."""
    filled = sum(s for _, s in matches)
    charged = sum(model.match_fee(p, s) for p, s in matches)
    avg = sum(p * s for p, s in matches) // filled
    limit = max(p for p, _ in matches) if buy else min(p for p, _ in matches)
    assert model.taker_fee_bound(filled, limit, avg, buy=buy) >= charged
    assert model.taker_fee_bound(filled, limit, None, buy=buy) >= charged
