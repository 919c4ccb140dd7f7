"""Hedge calculator: the smaller expected loss wins, fees included, within the slippage bounds."""

from __future__ import annotations

import pytest

from arbiter.core.fees import KalshiFeeModel, NoFees
from arbiter.core.hedge import (
    HedgeChoice,
    HedgeConfig,
    HedgeDecision,
    HedgeInput,
    HedgeVenue,
    MarketView,
    decide_hedge,
)
from arbiter.core.units import Money, Price, Size
from tests.execution.factories import C, price

KALSHI = HedgeVenue(tick=100, lot=10_000, min_size=0, fee=KalshiFeeModel())
POLY = HedgeVenue(tick=100, lot=10_000, min_size=0, fee=NoFees())
CFG = HedgeConfig(max_slippage=300, max_unwind_slippage=1000, max_attempts=3)


def held(n: int = 10, avg: str = "0.55", fees: int = 0, attempt: int = 1) -> HedgeInput:
    """``n`` Polymarket contracts bought at ``avg``, waiting for a Kalshi complement at 0.40."""
    return HedgeInput(Size(n * C), Money(price(avg) * n * C), Money(fees), Price(price("0.40")), attempt)


def test_completes_when_the_complement_is_still_cheap() -> None:
    d = decide_hedge(held(), KALSHI, POLY, CFG, MarketView(complete_ask=Price(4000), unwind_bid=Price(5300)))
    assert d.choice is HedgeChoice.COMPLETE
    # 10 x (1 - 0.55 - 0.40) = 0.50, minus the Kalshi fee ceil(0.07 x 10 x 0.4 x 0.6) = 0.17
    assert d.complete.expected_pnl == (5000 - 1700) * 10**6
    assert d.complete.fee == 1700 * 10**6
    assert d.unwind.expected_pnl == -200 * 10 * C and d.unwind.likely


def test_fees_can_tip_the_decision_to_unwind() -> None:
    view = MarketView(complete_ask=Price(4100), unwind_bid=Price(5800))
    no_fee = HedgeVenue(100, 10_000, 0, NoFees())
    assert decide_hedge(held(), no_fee, POLY, CFG, view).choice is HedgeChoice.COMPLETE  # 0.40 > 0.30
    d = decide_hedge(held(), KALSHI, POLY, CFG, view)  # 0.40 - 0.17 fee = 0.23 < 0.30
    assert d.choice is HedgeChoice.UNWIND
    assert d.unwind.expected_loss < d.complete.expected_loss
    assert "expected loss" in d.reason


def test_without_quotes_the_limits_are_the_worst_case_prices() -> None:
    d = decide_hedge(held(), KALSHI, POLY, CFG)
    assert d.complete.limit == d.complete.expected_price == 4100  # 0.40 + 300 x 1/3
    assert d.unwind.limit == d.unwind.expected_price == 5200  # 0.55 - 1000 x 1/3, ceil to tick
    assert d.complete.likely and d.unwind.likely


def test_slippage_grows_with_attempts_but_never_beyond_the_bound() -> None:
    limits = [decide_hedge(held(attempt=a), KALSHI, POLY, CFG).complete.limit for a in (1, 2, 3, 9)]
    assert limits == [4100, 4200, 4300, 4300]
    floors = [decide_hedge(held(attempt=a), KALSHI, POLY, CFG).unwind.limit for a in (1, 2, 3)]
    assert floors == [5200, 4900, 4500]


def test_quote_outside_the_limit_marks_the_option_unlikely() -> None:
    d = decide_hedge(held(), KALSHI, POLY, CFG, MarketView(complete_ask=Price(6000), unwind_bid=Price(100)))
    assert not d.complete.likely and not d.unwind.likely
    assert "above limit" in d.complete.note and "below limit" in d.unwind.note
    d2 = decide_hedge(held(), KALSHI, POLY, CFG, MarketView(complete_ask=Price(6000)))
    assert d2.choice is HedgeChoice.UNWIND  # the likely option beats a better-looking unlikely one


def test_minimum_sizes_make_options_infeasible() -> None:
    big_min = HedgeVenue(100, 10_000, 20 * C, NoFees())
    d = decide_hedge(held(), big_min, POLY, CFG)
    assert d.choice is HedgeChoice.UNWIND and not d.complete.feasible
    d = decide_hedge(held(), big_min, big_min, CFG)
    assert d.choice is HedgeChoice.GIVE_UP and d.chosen is None
    assert "no option" in d.reason


def test_limits_stay_on_the_tick_and_inside_the_price_range() -> None:
    coarse = HedgeVenue(1000, 10_000, 0, NoFees())
    d = decide_hedge(HedgeInput(Size(C), Money(9900 * C), Money(0), Price(9800), 3),
                     coarse, coarse, HedgeConfig(5000, 20_000, 3))
    assert d.complete.limit == 9000 and d.unwind.limit == 1000


def test_decision_round_trips_through_a_dict() -> None:
    d = decide_hedge(held(fees=123), KALSHI, POLY, CFG, MarketView(Price(4000), Price(5000)))
    assert HedgeDecision.from_dict(d.to_dict()) == d
    assert d.complete.expected_pnl == (5000 - 1700) * 10**6 - 123


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        HedgeConfig(max_attempts=0)
    assert HedgeConfig.from_dict(CFG.to_dict()) == CFG


def _after_failed_completion(view: MarketView | None, attempt: int = 2) -> HedgeDecision:
    inp = held(attempt=attempt)
    return decide_hedge(HedgeInput(inp.residual, inp.held_cost, inp.held_fees, inp.complete_limit,
                                   attempt, failed_completes=1), KALSHI, POLY, CFG, view)


def test_blind_completion_is_not_retried_after_one_failed() -> None:
    """Issue 23: deciding on limits alone completed at +1/+2/+3 ticks and never unwound."""
    assert decide_hedge(held(attempt=2), KALSHI, POLY, CFG).choice is HedgeChoice.COMPLETE
    d = _after_failed_completion(None)
    assert d.choice is HedgeChoice.UNWIND and "no ask known" in d.reason
    # the unwind stays inside its bound: 0.55 - 2/3 of 0.10, on the tick
    assert d.unwind.limit == 4900


def test_a_failed_completion_is_retried_only_on_a_book_that_shows_the_ask_in_reach() -> None:
    assert _after_failed_completion(MarketView(Price(4100), Price(5300))).choice is HedgeChoice.COMPLETE
    d = _after_failed_completion(MarketView(Price(4800), Price(5300)))
    assert d.choice is HedgeChoice.UNWIND and "best ask 4800" in d.reason


def test_a_failed_completion_gives_up_only_when_no_unwind_can_be_sent() -> None:
    tiny = HedgeVenue(tick=100, lot=10_000, min_size=50 * C, fee=NoFees())
    inp = held(attempt=2)
    d = decide_hedge(HedgeInput(inp.residual, inp.held_cost, inp.held_fees, inp.complete_limit, 2,
                                failed_completes=1), KALSHI, tiny, CFG, None)
    assert d.choice is HedgeChoice.COMPLETE  # the only option left is still tried
