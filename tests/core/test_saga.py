"""The pure saga: transitions, sizing of leg 2, hedging, replay after a crash, deterministic ids."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.book import Outcome
from arbiter.core.hedge import HedgeChoice, HedgeConfig, MarketView
from arbiter.core.ids import IdError, client_order_id, make_saga_id, parse_client_order_id, step_name
from arbiter.core.saga import (
    Decided,
    DecideHedge,
    Ending,
    Event,
    Finish,
    Finished,
    Intent,
    OrderFinal,
    OrderUnknown,
    PlaceOrder,
    ResolveOrder,
    Role,
    Saga,
    SagaError,
    SagaPolicy,
    SagaState,
    Started,
    event_from_dict,
    plan_saga,
)
from tests.execution.factories import PAIR, C, opportunity, price

SID = make_saga_id("abcd1234", 7)

Filler = Callable[[Intent], int]


def new_saga(policy: SagaPolicy | None = None, **kw: object) -> tuple[Saga, list[Event]]:
    plan = plan_saga(SID, opportunity(**kw), PAIR, policy)  # type: ignore[arg-type]
    saga, started = Saga.start(plan, 1)
    return saga, [started]


Snapshot = tuple[SagaState, int, int, tuple[str, ...]]


def snapshot(saga: Saga) -> Snapshot:
    return (saga.state, saga.residual(), saga.pnl(), tuple(o.state for o in saga.orders.values()))


def run(saga: Saga, events: list[Event], fill: Filler, view: MarketView | None = None,
        max_steps: int = 50, snaps: list[Snapshot] | None = None) -> None:
    """Drive a saga purely: every order gets ``fill(intent)`` at its limit price.

    ``snaps[k]`` is the state after ``events[:k + 1]`` (``events[0]`` is ``started``).
    """

    def apply(ev: Event) -> None:
        saga.apply(ev)
        events.append(ev)
        if snaps is not None:
            snaps.append(snapshot(saga))

    if snaps is not None:
        snaps.append(snapshot(saga))
    for _ in range(max_steps):
        cmd = saga.next_command(100)
        if cmd is None:
            return
        if isinstance(cmd, PlaceOrder):
            apply(cmd.intent)
            n = fill(cmd.intent)
            apply(OrderFinal(cmd.intent.step, "o-" + cmd.intent.step, "filled" if n else "canceled",
                             n, n * cmd.intent.price, 0, "ack", "", 100))
        elif isinstance(cmd, DecideHedge):
            apply(cmd.decide(view, 100))
        elif isinstance(cmd, Finish):
            apply(cmd.event)
        else:
            raise AssertionError(f"unexpected {cmd}")
    raise AssertionError("saga did not terminate")


# -- ids ------------------------------------------------------------------------------------------

def test_client_order_ids_are_deterministic_and_parse_back() -> None:
    cid = client_order_id(SID, "L2")
    assert cid == client_order_id(SID, "L2") == "arb-abcd1234-7-L2"
    assert parse_client_order_id(cid) == (SID, "L2")
    assert len(client_order_id(make_saga_id("a" * 16, 10**12 - 1), "U999")) <= 64
    assert step_name("complete", 3) == "C3" and step_name("unwind", 1) == "U1"


@pytest.mark.parametrize(
    "bad", ["", "x", "abcd1234", "ABCD-1", "abcd1234-1-L3", "arb-ab-1-L1", "arb-abcd1234-1-C0"]
)
def test_foreign_ids_are_refused(bad: str) -> None:
    with pytest.raises(IdError):
        parse_client_order_id(bad)


def test_bad_id_inputs_raise() -> None:
    with pytest.raises(IdError):
        make_saga_id("UPPER", 1)
    with pytest.raises(IdError):
        client_order_id(SID, "X1")
    with pytest.raises(IdError):
        step_name("unwind", 0)


# -- plan -----------------------------------------------------------------------------------------

def test_slower_venue_goes_first_by_default_and_thinner_with_depth() -> None:
    plan = plan_saga(SID, opportunity(), PAIR)
    assert (plan.first.venue, plan.second.venue) == ("polymarket", "kalshi")
    assert plan.first.fee_kind == "polymarket" and plan.first.fee_param == "0:1"
    assert plan.second.fee_kind == "kalshi_series"
    assert plan.second.fee_param == "1/1"
    assert plan.second.fee_model().order_fee([(5000, 10**7)]) == 18 * 10**8  # 10 at 0.50: $0.18
    thin_kalshi = plan_saga(SID, opportunity(), PAIR, depth={PAIR.kalshi_ticker: 5, "2222": 500})
    assert thin_kalshi.first.venue == "kalshi"
    assert plan_saga(SID, opportunity(), PAIR, SagaPolicy(first_venues=("kalshi",))).first.venue == "kalshi"


def test_a_journal_written_before_kalshi_series_fees_still_prices_the_same() -> None:
    """Sagas journaled with fee_kind "kalshi" carried the coefficient (7/100) itself."""
    import dataclasses

    new = plan_saga(SID, opportunity(), PAIR).second
    old = dataclasses.replace(new, fee_kind="kalshi", fee_param="7/100")
    fills = [(4700, 30 * 10**6)]
    assert old.fee_model().order_fee(fills) == new.fee_model().order_fee(fills)


# -- happy and simple paths ------------------------------------------------------------------------

def test_both_legs_fill_completes_with_exact_pnl() -> None:
    saga, events = new_saga()
    run(saga, events, lambda i: i.size)
    assert saga.ending is Ending.COMPLETED and saga.state is SagaState.DONE
    assert [o.step for o in saga.orders.values()] == ["L1", "L2"]
    # pays $1 per pair minus 0.40 + 0.55
    assert saga.pnl() == 10 * C * (10_000 - price("0.40") - price("0.55"))
    assert saga.finished is not None and saga.finished.residual == 0
    assert saga.next_command(1) is None


def test_leg1_no_fill_ends_without_leg2() -> None:
    saga, events = new_saga()
    run(saga, events, lambda i: 0)
    assert saga.ending is Ending.NO_FILL and list(saga.orders) == ["L1"]
    assert saga.pnl() == 0


def test_leg2_is_sized_to_leg1_actual_fill() -> None:
    saga, events = new_saga()
    run(saga, events, lambda i: 4 * C if i.role is Role.LEG1 else i.size)
    leg2 = saga.orders["L2"].intent
    assert leg2.size == 4 * C and saga.ending is Ending.COMPLETED


def test_states_follow_the_documented_lifecycle() -> None:
    saga, _ = new_saga()
    seen = [saga.state]
    cmd = saga.next_command(1)
    assert isinstance(cmd, PlaceOrder)
    saga.apply(cmd.intent)
    seen.append(saga.state)
    saga.apply(OrderFinal("L1", "o1", "canceled", 6 * C, 6 * C * 5500, 0, "ack", "", 2))
    seen.append(saga.state)
    cmd = saga.next_command(3)
    assert isinstance(cmd, PlaceOrder)
    saga.apply(cmd.intent)
    seen.append(saga.state)
    saga.apply(OrderFinal("L2", "o2", "canceled", 0, 0, 0, "ack", "", 4))
    seen.append(saga.state)
    cmd = saga.next_command(5)
    assert isinstance(cmd, DecideHedge)
    saga.apply(cmd.decide(None, 5))
    seen.append(saga.state)
    assert seen == [
        SagaState.RESERVED, SagaState.LEG1_SUBMITTED, SagaState.LEG1_PARTIAL,
        SagaState.LEG2_SUBMITTED, SagaState.LEG2_REJECTED, SagaState.HEDGING,
    ]


# -- hedging -------------------------------------------------------------------------------------

def test_leg2_partial_is_completed_when_completion_is_cheaper() -> None:
    saga, events = new_saga()
    run(saga, events, lambda i: 7 * C if i.role is Role.LEG2 else i.size)
    assert saga.ending is Ending.HEDGED
    decided = [e for e in events if isinstance(e, Decided)]
    assert len(decided) == 1 and decided[0].decision.choice is HedgeChoice.COMPLETE
    c1 = saga.orders["C1"].intent
    assert (c1.venue, c1.action, c1.size) == ("kalshi", "buy", 3 * C)
    assert c1.price > price("0.40")  # worse than planned, within slippage
    assert saga.residual() == 0


def test_leg2_rejected_unwinds_when_the_complement_ran_away() -> None:
    saga, events = new_saga()
    view = MarketView(complete_ask=price("0.90"), unwind_bid=price("0.54"))
    run(saga, events, lambda i: 0 if i.role is Role.LEG2 else i.size, view)
    assert saga.ending is Ending.UNWOUND
    u1 = saga.orders["U1"].intent
    assert (u1.venue, u1.market, u1.action, u1.size) == ("polymarket", "2222", "sell", 10 * C)
    decision = next(e for e in events if isinstance(e, Decided)).decision
    assert not decision.complete.likely and decision.unwind.likely
    assert decision.reason.startswith("unwind")


def test_hedge_attempts_are_bounded_and_failure_is_terminal() -> None:
    saga, events = new_saga(policy=SagaPolicy(hedge=HedgeConfig(max_attempts=2)))
    run(saga, events, lambda i: i.size if i.role is Role.LEG1 else 0)
    assert saga.ending is Ending.FAILED and saga.state is SagaState.FAILED
    assert [d.attempt for d in saga.decisions] == [1, 2]
    assert saga.finished is not None and saga.finished.residual == 10 * C
    assert len({o.intent.cid for o in saga.orders.values()}) == len(saga.orders)


def test_leg2_below_venue_minimum_goes_straight_to_hedging() -> None:
    policy = SagaPolicy(min_sizes={"kalshi": 5 * C})
    saga, events = new_saga(policy=policy)
    run(saga, events, lambda i: 2 * C if i.role is Role.LEG1 else i.size)
    assert "L2" not in saga.orders
    assert saga.decisions[0].choice is HedgeChoice.UNWIND
    assert saga.ending is Ending.UNWOUND


# -- unknown outcomes, replay and validation ------------------------------------------------------

def test_unanswered_intent_after_replay_is_resolved_not_resent() -> None:
    saga, events = new_saga()
    cmd = saga.next_command(1)
    assert isinstance(cmd, PlaceOrder)
    saga.apply(cmd.intent)
    events.append(cmd.intent)
    rebuilt = Saga.replay(events)
    nxt = rebuilt.next_command(2)
    assert isinstance(nxt, ResolveOrder) and nxt.order.intent.cid == cmd.intent.cid
    rebuilt.apply(OrderUnknown("L1", "timeout", 3))
    again = rebuilt.next_command(4)
    assert isinstance(again, ResolveOrder) and again.order.state == "unknown"


def test_illegal_events_are_refused() -> None:
    saga, _ = new_saga()
    cmd = saga.next_command(1)
    assert isinstance(cmd, PlaceOrder)
    saga.apply(cmd.intent)
    with pytest.raises(SagaError):
        saga.apply(cmd.intent)  # same step twice
    with pytest.raises(SagaError):
        saga.apply(Finished(Ending.NO_FILL, "x", 0, 0, 2))  # finish with an order in flight
    with pytest.raises(SagaError):
        saga.apply(OrderFinal("L1", "o", "filled", 11 * C, 0, 0, "ack", "", 2))  # overfill
    saga.apply(OrderFinal("L1", "o", "canceled", 0, 0, 0, "ack", "", 2))
    with pytest.raises(SagaError):
        saga.apply(OrderFinal("L1", "o", "canceled", 0, 0, 0, "ack", "", 2))
    with pytest.raises(SagaError):
        Saga.replay([cmd.intent])
    forged = Intent("L2", Role.LEG2, "arb-zzzz9999-1-L2", "kalshi", "K", Outcome.YES, "buy", 1, 1, 3)
    with pytest.raises(SagaError):
        saga.apply(forged)


def test_events_round_trip_through_their_journal_form() -> None:
    saga, events = new_saga()
    run(saga, events, lambda i: 7 * C if i.role is Role.LEG2 else i.size)
    rebuilt = [event_from_dict(e.kind, e.to_dict()) for e in events]
    assert rebuilt == events
    assert isinstance(rebuilt[0], Started)
    again = Saga.replay(rebuilt)
    assert again.state is saga.state and again.pnl() == saga.pnl()
    assert again.describe() == saga.describe()
    with pytest.raises(SagaError):
        event_from_dict("bogus", {})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    fills=st.lists(st.integers(min_value=0, max_value=10), min_size=8, max_size=8),
    bid=st.one_of(st.none(), st.integers(min_value=1, max_value=99)),
    ask=st.one_of(st.none(), st.integers(min_value=1, max_value=99)),
    crash_at=st.integers(min_value=1, max_value=20),
)
def test_any_fill_sequence_terminates_balanced_or_failed_and_replays(
    fills: list[int], bid: int | None, ask: int | None, crash_at: int
) -> None:
    """Invariants over arbitrary partial fills: terminal, cids unique, never oversold, residual
    zero unless failed, and replaying any prefix reproduces the same next command."""
    saga, events = new_saga()
    it = iter(fills)

    def fill(intent: Intent) -> int:
        share = next(it, 10)
        return (intent.size * share // 10) // 10_000 * 10_000

    view = MarketView(ask * 100 if ask else None, bid * 100 if bid else None)
    snaps: list[Snapshot] = []
    run(saga, events, fill, view, snaps=snaps)
    assert saga.terminal
    cids = [o.intent.cid for o in saga.orders.values()]
    assert len(cids) == len(set(cids))
    assert saga.held_first() >= 0 and saga.residual() >= 0
    if saga.ending is not Ending.FAILED:
        assert saga.residual() == 0
    # every prefix of the event list (a crash after that many journal writes) replays to the
    # exact state the live saga had at that point
    assert len(snaps) == len(events)
    for k in range(1, len(events) + 1):
        assert snapshot(Saga.replay(events[:k])) == snaps[k - 1]
    crashed = Saga.replay(events[: min(crash_at, len(events))])
    if crashed.pending() is not None:  # an unanswered intent is looked up, never resent
        assert isinstance(crashed.next_command(5), ResolveOrder)
