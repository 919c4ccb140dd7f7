"""Risk rules: one reason code per rejection, atomic reservations, the kill switch."""

from __future__ import annotations

import pytest

from arbiter.core.risk import DAY_NS, Reason, RiskBook, RiskLimits
from tests.execution.factories import C, opportunity

DOLLAR = 10**10
NOW = 5 * DAY_NS + 1000


def funded(limits: RiskLimits | None = None, balance: int = 1000 * DOLLAR) -> RiskBook:
    book = RiskBook(limits or RiskLimits())
    book.set_balance("kalshi", balance)
    book.set_balance("polymarket", balance)
    return book


def test_approval_reserves_each_legs_cost_fee_and_slippage_on_its_venue() -> None:
    book = funded(RiskLimits(slippage_reserve=100))
    d = book.check_and_reserve("s-1", opportunity(k_fee=5), NOW)
    assert d.approved and d.reason is None and d.reservation is not None
    assert d.reservation.per_venue == {
        "kalshi": 4000 * 10 * C + 5 + 100 * 10 * C,
        "polymarket": 5500 * 10 * C + 100 * 10 * C,
    }
    assert book.available("kalshi") == 1000 * DOLLAR - d.reservation.per_venue["kalshi"]
    book.release("s-1")
    assert book.available("kalshi") == 1000 * DOLLAR


def test_concurrent_sagas_cannot_overspend_a_balance() -> None:
    # 10 contracts at 0.55 on Polymarket cost $5.50: two fit in $12, the third must wait
    book = funded(balance=12 * DOLLAR)
    results = [book.check_and_reserve(f"s-{i}", opportunity(), NOW) for i in range(3)]
    assert [r.approved for r in results] == [True, True, False]
    assert results[2].reason is Reason.BALANCE
    assert "need" in results[2].detail
    book.release("s-0")
    assert book.check_and_reserve("s-3", opportunity(), NOW).approved


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (RiskLimits(max_book_age_ns=10), Reason.STALE_BOOK),
        (RiskLimits(min_edge=600), Reason.MIN_EDGE),
        (RiskLimits(min_profit=10 * DOLLAR), Reason.MIN_PROFIT),
        (RiskLimits(max_open_sagas=0), Reason.OPEN_SAGAS),
        (RiskLimits(max_pair_contracts=5 * C), Reason.PAIR_LIMIT),
        (RiskLimits(pair_contracts={"FED": 9 * C}), Reason.PAIR_LIMIT),
        (RiskLimits(max_venue_exposure=5 * DOLLAR), Reason.VENUE_LIMIT),
        (RiskLimits(max_gross_exposure=9 * DOLLAR), Reason.GROSS_EXPOSURE),
    ],
)
def test_each_rule_rejects_with_its_reason_code(limits: RiskLimits, reason: Reason) -> None:
    book = funded(limits)
    d = book.check_and_reserve("s-1", opportunity(ts_ns=NOW - 1000), NOW)
    assert not d.approved and d.reason is reason and d.detail
    assert not book.reservations
    assert funded(RiskLimits()).check_and_reserve("s-1", opportunity(ts_ns=NOW - 1000), NOW).approved


def test_holdings_count_against_pair_and_venue_limits() -> None:
    book = funded(RiskLimits(max_pair_contracts=15 * C, max_venue_exposure=8 * DOLLAR))
    assert book.check_and_reserve("s-1", opportunity(), NOW).approved
    book.release("s-1")
    book.set_holdings({"FED": 6 * C}, {})
    assert book.check_and_reserve("s-2", opportunity(), NOW).reason is Reason.PAIR_LIMIT
    book.set_holdings({}, {"polymarket": 3 * DOLLAR})
    assert book.check_and_reserve("s-3", opportunity(), NOW).reason is Reason.VENUE_LIMIT


def test_unknown_balance_and_duplicate_saga_are_refused() -> None:
    book = RiskBook()
    assert book.check_and_reserve("s-1", opportunity(), NOW).reason is Reason.BALANCE_UNKNOWN
    lax = RiskBook(RiskLimits(require_balance=False))
    assert lax.check_and_reserve("s-1", opportunity(), NOW).approved
    assert lax.check_and_reserve("s-1", opportunity(), NOW).reason is Reason.DUPLICATE_SAGA


def test_manual_kill_switch_blocks_new_sagas_until_reset() -> None:
    book = funded()
    book.trip("operator", NOW)
    d = book.check_and_reserve("s-1", opportunity(), NOW)
    assert d.reason is Reason.KILL_SWITCH and "operator" in d.detail
    book.reset(NOW + 1)
    assert book.check_and_reserve("s-1", opportunity(), NOW).approved
    assert [e for _, e in book.kill_log] == ["tripped: operator", "reset (was: operator)"]


def test_daily_loss_trips_the_switch_and_rolls_over_at_midnight() -> None:
    book = funded(RiskLimits(max_daily_loss=5 * DOLLAR))
    assert book.record_result("s-1", -3 * DOLLAR, False, NOW) is None
    reason = book.record_result("s-2", -2 * DOLLAR, False, NOW)
    assert reason is not None and "daily loss" in reason
    assert book.check_and_reserve("s-3", opportunity(), NOW).reason is Reason.KILL_SWITCH
    book.reset(NOW)
    assert book.check_and_reserve("s-3", opportunity(), NOW).reason is Reason.DAILY_LOSS
    assert book.check_and_reserve("s-4", opportunity(), NOW + DAY_NS).approved


def test_repeated_hedge_failures_trip_the_switch() -> None:
    book = funded(RiskLimits(max_hedge_failures=2))
    assert book.record_result("s-1", 0, True, NOW) is None
    assert book.record_result("s-2", 0, False, NOW) is None
    reason = book.record_result("s-3", 0, True, NOW)
    assert reason is not None and "hedge failures" in reason and book.killed == reason


def test_restore_holds_capital_for_a_recovered_saga() -> None:
    book = funded(balance=6 * DOLLAR)
    d = book.check_and_reserve("s-1", opportunity(), NOW)
    assert d.reservation is not None
    fresh = funded(balance=6 * DOLLAR)
    fresh.restore(d.reservation)
    assert fresh.check_and_reserve("s-2", opportunity(), NOW).reason is Reason.BALANCE


def test_a_leg_below_the_market_minimum_or_off_tick_is_refused() -> None:
    """Polymarket's ``mos`` and tick travel on the legs; the risk check enforces them again."""
    import dataclasses

    book = funded(RiskLimits())
    base = opportunity()
    assert base.size > 0
    small = dataclasses.replace(base, legs=(base.legs[0], dataclasses.replace(
        base.legs[1], min_size=base.size + 1, tick=100)))
    decision = book.check_and_reserve("s-min", small, NOW)
    assert not decision.approved and decision.reason is Reason.ORDER_RULES
    assert "below the market's minimum" in decision.detail
    off = dataclasses.replace(base, legs=(base.legs[0], dataclasses.replace(
        base.legs[1], limit_price=base.legs[1].limit_price + 10, tick=100)))
    decision = book.check_and_reserve("s-tick", off, NOW)
    assert not decision.approved and decision.reason is Reason.ORDER_RULES
    at_min = dataclasses.replace(base, legs=(base.legs[0], dataclasses.replace(
        base.legs[1], min_size=base.size, tick=100)))
    assert book.check_and_reserve("s-ok", at_min, NOW).approved
def test_a_leg_must_fit_in_the_collateral_of_its_markets_shard() -> None:
    """Kalshi holds collateral per exchange shard (docs /getting_started/exchange_sharding):
    the venue's total is not what an order on a shard-1 market can use."""
    from arbiter.core.risk import shard_key
    from tests.execution.factories import PAIR

    book = funded()
    opp = opportunity()  # Kalshi leg: 10 YES at 0.40 = $4 on PAIR.kalshi_ticker
    book.set_shard_balances("kalshi", {0: 997 * DOLLAR, 1: 3 * DOLLAR})
    unknown = book.check_and_reserve("s-1", opp, NOW)
    assert unknown.reason is Reason.BALANCE_UNKNOWN and "shard of" in unknown.detail
    book.set_market_shard("kalshi", PAIR.kalshi_ticker, 1)
    short = book.check_and_reserve("s-2", opp, NOW)  # $1000 in total, $3 where it trades
    assert short.reason is Reason.BALANCE and "kalshi shard 1" in short.detail
    book.set_shard_balances("kalshi", {0: 990 * DOLLAR, 1: 10 * DOLLAR})
    ok = book.check_and_reserve("s-3", opp, NOW)
    assert ok.approved and ok.reservation is not None
    assert ok.reservation.per_shard == {shard_key("kalshi", 1): 4000 * 10 * C}
    assert book.available_on_shard("kalshi", 1) == 6 * DOLLAR
    again = book.check_and_reserve("s-4", opportunity(size=20), NOW)  # $8 > $6 left there
    assert again.reason is Reason.BALANCE
    book.release("s-3")
    assert book.available_on_shard("kalshi", 1) == 10 * DOLLAR
    book.set_shard_balances("kalshi", {0: 1000 * DOLLAR})  # shard 1 not reported: unknown
    assert book.check_and_reserve("s-5", opp, NOW).reason is Reason.BALANCE_UNKNOWN
