from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.fees import (
    KalshiFeeModel,
    NoFees,
    PolymarketFeeModel,
    kalshi_taker,
    unit_cost_monotone,
)
from arbiter.core.sizing import brute_force_size, leg_fills, optimise_size
from arbiter.core.units import ONE_CONTRACT as ONE
from arbiter.core.units import PRICE_SCALE, parse_money

C = 100


def test_hand_worked_example() -> None:
    # Kalshi YES asks 0.47 x 40, 0.48 x 80; Polymarket NO asks 0.50 x 30, 0.51 x 100
    a = [(47 * C, 40 * ONE), (48 * C, 80 * ONE)]
    b = [(50 * C, 30 * ONE), (51 * C, 100 * ONE)]
    best = optimise_size(a, b, kalshi_taker(), NoFees(), lot=ONE)
    assert best is not None
    # 40 contracts: cost 18.80 + 15.00 + 5.10 = 38.90; fee ceil(0.07 x 40 x 0.2491) = 0.70
    assert best.size == 40 * ONE
    assert best.cost_a + best.cost_b == parse_money("38.90")
    assert best.fee_a == parse_money("0.70")
    assert best.profit == parse_money("0.40")
    assert (best.limit_a, best.limit_b) == (47 * C, 51 * C)


def test_min_edge_is_a_hurdle_per_contract() -> None:
    a = [(47 * C, 40 * ONE)]
    b = [(50 * C, 30 * ONE), (51 * C, 100 * ONE)]
    # marginal contracts at 0.47 + 0.51 earn 0.02 - 0.0175 fee: below a 1c hurdle, so the
    # size stays inside the 0.50 level. 28 and 30 contracts tie at $0.07 over the hurdle
    # (fees 0.49 vs 0.53 after rounding up): the smaller size wins the tie.
    best = optimise_size(a, b, kalshi_taker(), NoFees(), lot=ONE, hurdle=C)
    assert best is not None and best.size == 28 * ONE
    assert best.objective == parse_money("0.07") and best.fee_a == parse_money("0.49")
    assert optimise_size(a, b, kalshi_taker(), NoFees(), lot=ONE, hurdle=3 * C) is None


def test_caps_budget_and_min_size() -> None:
    a = [(40 * C, 100 * ONE)]
    b = [(50 * C, 100 * ONE)]
    fee = NoFees()
    assert optimise_size(a, b, fee, fee, lot=ONE, max_size=7 * ONE).size == 7 * ONE  # type: ignore[union-attr]
    budget = parse_money("9.00")  # 10 contracts cost 9.00
    assert optimise_size(a, b, fee, fee, lot=ONE, budget=budget).size == 10 * ONE  # type: ignore[union-attr]
    assert optimise_size(a, b, fee, fee, lot=ONE, min_size=200 * ONE) is None
    assert optimise_size([], b, fee, fee, lot=ONE) is None


def test_no_profit_when_asks_sum_to_a_dollar() -> None:
    a = [(50 * C, 10 * ONE)]
    b = [(50 * C, 10 * ONE)]
    assert optimise_size(a, b, NoFees(), NoFees(), lot=ONE) is None


def test_leg_fills_walks_depth() -> None:
    assert leg_fills([(10, 5), (11, 5)], 7) == [(10, 5), (11, 2)]


def ladder(max_levels: int) -> Any:
    return st.lists(
        st.tuples(st.integers(1, 99), st.integers(1, 40)), min_size=0, max_size=max_levels,
        unique_by=lambda level: level[0],
    ).map(lambda levels: sorted((p * C, s * ONE // 2) for p, s in levels))


@settings(max_examples=300, deadline=None)
@given(
    ladder(5),
    ladder(5),
    st.sampled_from([kalshi_taker(), NoFees()]),
    st.sampled_from([NoFees(), PolymarketFeeModel.of("0.04"), PolymarketFeeModel.of("0.07"),
                     PolymarketFeeModel.of("0.25", 2)]),
    st.integers(0, 300),
    st.one_of(st.none(), st.integers(1, 60)),
    st.one_of(st.none(), st.integers(1, 4000)),
    st.sampled_from([ONE, ONE // 2]),
)
def test_search_equals_brute_force(
    a: list[tuple[int, int]],
    b: list[tuple[int, int]],
    fee_a: Any,
    fee_b: Any,
    hurdle: int,
    cap: int | None,
    budget_cents: int | None,
    lot: int,
) -> None:
    kwargs: dict[str, Any] = {
        "hurdle": hurdle,
        "lot": lot,
        "max_size": None if cap is None else cap * ONE,
        "budget": None if budget_cents is None else budget_cents * parse_money("0.01"),
    }
    fast = optimise_size(a, b, fee_a, fee_b, **kwargs)
    slow = brute_force_size(a, b, fee_a, fee_b, **kwargs)
    assert fast == slow
    if fast is not None:
        # profit is strictly positive and recomputes from the books and the fee models
        assert fast.profit > 0
        fa, fb = leg_fills(a, fast.size), leg_fills(b, fast.size)
        cost = sum(p * s for p, s in fa) + sum(p * s for p, s in fb)
        fees = fee_a.order_fee(fa) + fee_b.order_fee(fb)
        assert fast.profit == fast.size * PRICE_SCALE - cost - fees


@settings(max_examples=200, deadline=None)
@given(
    ladder(5),
    ladder(5),
    st.sampled_from([PolymarketFeeModel.of("0.04"), PolymarketFeeModel.of("0.05"),
                     PolymarketFeeModel.of("0.25", 2)]),
    st.integers(0, 100),
    st.sampled_from([0, 5, 12]),
)
def test_search_with_a_polymarket_minimum_equals_brute_force(
    a: list[tuple[int, int]],
    b: list[tuple[int, int]],
    fee_b: Any,
    hurdle: int,
    minimum: int,
) -> None:
    """The live configuration: Kalshi taker fee, a Polymarket category fee and its ``mos``."""
    kwargs: dict[str, Any] = {"hurdle": hurdle, "lot": ONE, "min_size": minimum * ONE}
    fast = optimise_size(a, b, kalshi_taker(), fee_b, **kwargs)
    assert fast == brute_force_size(a, b, kalshi_taker(), fee_b, **kwargs)
    if fast is not None:
        assert fast.size >= minimum * ONE


MONOTONE_MODELS = [kalshi_taker(), KalshiFeeModel.of("0.5"), KalshiFeeModel.of("14"), NoFees(),
                   PolymarketFeeModel.of("0.04"), PolymarketFeeModel.of("1"),
                   PolymarketFeeModel.of("0.25", 2), PolymarketFeeModel.of("1", 4),
                   PolymarketFeeModel.of("0.3", 0)]


def test_unit_cost_monotone_models_never_get_cheaper_deeper() -> None:
    """The premise of detection's fee bound (ADR 0174): ``p + rate_floor(p)`` never falls as the
    price rises, on every price of the finest grid, for each model that claims it."""
    for model in MONOTONE_MODELS:
        assert unit_cost_monotone(model), model
        costs = [p + model.rate_floor(p) for p in range(1, PRICE_SCALE)]
        assert all(x <= y for x, y in pairwise(costs)), model
    # a multiplier past 1/0.07 would make the Kalshi curve fall: the bound is not claimed
    assert not unit_cost_monotone(KalshiFeeModel.of("15"))


@settings(max_examples=300, deadline=None)
@given(ladder(5), ladder(5), st.sampled_from(MONOTONE_MODELS), st.sampled_from(MONOTONE_MODELS),
       st.integers(0, 300), st.sampled_from([ONE, ONE // 2]))
def test_a_window_the_fee_bound_closes_has_no_profitable_size(
    a: list[tuple[int, int]], b: list[tuple[int, int]], fee_a: Any, fee_b: Any, hurdle: int,
    lot: int,
) -> None:
    if not a or not b:
        return
    (pa, _), (pb, _) = a[0], b[0]
    if pa + pb + fee_a.rate_floor(pa) + fee_b.rate_floor(pb) >= PRICE_SCALE - hurdle:
        assert brute_force_size(a, b, fee_a, fee_b, hurdle=hurdle, lot=lot) is None
