"""A failed saga's residual: named, sized, costed, valued at a known bid only (ADR 0171)."""

from __future__ import annotations

from arbiter.core.book import Outcome
from arbiter.core.ids import client_order_id
from arbiter.core.residual import Residual, residual_of
from arbiter.core.saga import Ending, Finished, Intent, OrderFinal, Role, Saga, plan_saga
from tests.execution.factories import PAIR, C, opportunity


def _failed(leg1_filled: int, leg2_filled: int) -> Saga:
    plan = plan_saga("a1b2c3d4-1", opportunity(), PAIR)
    saga = Saga(plan)
    first, second = plan.first, plan.second
    for step, role, leg, filled in (("L1", Role.LEG1, first, leg1_filled),
                                    ("L2", Role.LEG2, second, leg2_filled)):
        saga.apply(Intent(step, role, client_order_id("a1b2c3d4-1", step), leg.venue, leg.market,
                          leg.outcome, "buy", leg.limit_price, 10 * C, 0))
        saga.apply(OrderFinal(step, f"o-{step}", "filled", filled, leg.limit_price * filled,
                              100, "ack", "", 0))
    saga.apply(Finished(Ending.FAILED, "residual left after 3 hedge attempt(s)", saga.pnl(),
                        saga.residual(), 0))
    return saga


def test_a_failed_saga_names_what_it_holds_and_values_it_only_at_a_known_bid() -> None:
    saga = _failed(10 * C, 7 * C)
    leg = saga.plan.first
    unknown = residual_of(saga, None, 5)
    assert unknown is not None
    assert (unknown.venue, unknown.market, unknown.outcome) == (leg.venue, leg.market, leg.outcome)
    assert unknown.contracts == 3 * C and unknown.cost == leg.limit_price * 3 * C
    assert unknown.fees == 100 * 3 // 10 and unknown.mark_value is None
    assert unknown.value == unknown.cost + unknown.fees  # no book: at risk at cost, never 0
    assert unknown.name == f"{leg.venue}:{leg.market}:{leg.outcome.value}@a1b2c3d4-1"
    marked = residual_of(saga, 3000, 5)
    assert marked is not None and marked.mark_value == marked.value == 3000 * 3 * C
    assert Residual.from_dict(marked.to_dict()) == marked
    assert isinstance(leg.outcome, Outcome)


def test_a_saga_that_ended_flat_or_hedged_has_no_residual() -> None:
    plan = plan_saga("a1b2c3d4-2", opportunity(), PAIR)
    assert residual_of(Saga(plan), 3000, 0) is None
