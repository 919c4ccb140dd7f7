"""The two-leg execution saga as a pure, event-sourced state machine.

A saga's state is nothing but the fold of its events (:meth:`Saga.replay`). The executor asks
:meth:`Saga.next_command` what to do, performs the side effect, and turns what happened into an
event that it journals *before* applying it. Because the state is rebuilt from the same events
after a crash, recovery needs no separate code path: replay the journal, then keep asking
``next_command``. An order whose intent was journaled but whose answer was not is ``pending``;
the command for it is :class:`ResolveOrder` (look it up by its deterministic client order id),
never a second :class:`PlaceOrder`.

Lifecycle::

    reserved → leg1_submitted → leg1_filled | leg1_partial | leg1_rejected
             → leg2_submitted → leg2_filled | leg2_partial | leg2_rejected
             → (residual?) hedging → hedge_submitted → hedging … → done | failed

Leg 2 is sized to leg 1's *actual* fill. Any unmatched residual goes to the hedge calculator
(:mod:`arbiter.core.hedge`), whose decision (both options and their expected losses) is itself
an event, so every choice is explainable from the journal alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any, ClassVar

from arbiter.core.book import Outcome
from arbiter.core.detection import Opportunity
from arbiter.core.fees import (
    TAKER_COEFFICIENT,
    FeeModel,
    KalshiFeeModel,
    NoFees,
    PolymarketFeeModel,
)
from arbiter.core.hedge import (
    HedgeConfig,
    HedgeDecision,
    HedgeInput,
    HedgeVenue,
    MarketView,
    decide_hedge,
)
from arbiter.core.ids import client_order_id, step_name
from arbiter.core.pairs import Pair
from arbiter.core.price_grid import PriceGrid
from arbiter.core.units import PRICE_SCALE, Money, Price, Size

__all__ = [
    "Command",
    "DecideHedge",
    "Decided",
    "Ending",
    "Event",
    "Finish",
    "Finished",
    "Intent",
    "LegPlan",
    "OrderFinal",
    "OrderRecord",
    "OrderUnknown",
    "PlaceOrder",
    "ResolveOrder",
    "Role",
    "Saga",
    "SagaError",
    "SagaPlan",
    "SagaPolicy",
    "SagaState",
    "Started",
    "event_from_dict",
    "plan_saga",
]


class SagaError(RuntimeError):
    """An event that does not fit the saga's state: a bug or a corrupted journal."""


class Role(StrEnum):
    LEG1 = "leg1"
    LEG2 = "leg2"
    COMPLETE = "complete"
    UNWIND = "unwind"


class SagaState(StrEnum):
    RESERVED = "reserved"
    LEG1_SUBMITTED = "leg1_submitted"
    LEG1_FILLED = "leg1_filled"
    LEG1_PARTIAL = "leg1_partial"
    LEG1_REJECTED = "leg1_rejected"
    LEG2_SUBMITTED = "leg2_submitted"
    LEG2_FILLED = "leg2_filled"
    LEG2_PARTIAL = "leg2_partial"
    LEG2_REJECTED = "leg2_rejected"
    HEDGING = "hedging"
    HEDGE_SUBMITTED = "hedge_submitted"
    DONE = "done"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (SagaState.DONE, SagaState.FAILED)


class Ending(StrEnum):
    COMPLETED = "completed"  # both legs matched without a hedge order
    HEDGED = "hedged"  # matched after one or more completion orders
    UNWOUND = "unwound"  # everything bought was sold back
    NO_FILL = "no_fill"  # leg 1 filled nothing: no position, nothing to do
    FAILED = "failed"  # a residual is left: operator attention, counts as a hedge failure


# -- plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegPlan:
    """Everything needed to send and price orders on one leg's market, serialisable as is."""

    venue: str
    market: str
    outcome: Outcome
    limit_price: int
    tick: int
    lot: int
    min_size: int
    #: "kalshi_series" (param = the series' fee_multiplier as a fraction, "1/1"), "kalshi"
    #: (journals written before it: param = the taker coefficient, "7/100"), "polymarket"
    #: (param = "rate:exponent" with the rate as a decimal string, e.g. "0.04:1") or "none"
    fee_kind: str = "none"
    fee_param: str = "0"
    #: the market's price grid (``PriceGrid.text()``) where it is not uniform; "" = ``tick``
    grid: str = ""

    def fee_model(self) -> FeeModel:
        if self.fee_kind == "kalshi_series":
            return KalshiFeeModel(Fraction(self.fee_param))
        if self.fee_kind == "kalshi":
            return KalshiFeeModel(Fraction(self.fee_param) / TAKER_COEFFICIENT)
        if self.fee_kind == "polymarket":
            rate, sep, exponent = self.fee_param.partition(":")
            if not sep:  # a plan journaled before ADR 0036 (legacy bps): never guess a fee
                raise ValueError(
                    f"Polymarket fee {self.fee_param!r} of a pre-ADR-0036 plan: the market's "
                    "current fee must be read from the venue"
                )
            return PolymarketFeeModel.of(rate, int(exponent))
        return NoFees()

    def hedge_venue(self) -> HedgeVenue:
        grid = PriceGrid.parse_text(self.grid) if self.grid else None
        return HedgeVenue(self.tick, self.lot, self.min_size, self.fee_model(), grid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "venue": self.venue, "market": self.market, "outcome": self.outcome.value,
            "limit_price": self.limit_price, "tick": self.tick, "lot": self.lot,
            "min_size": self.min_size, "fee_kind": self.fee_kind, "fee_param": self.fee_param,
            "grid": self.grid,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LegPlan:
        return cls(
            str(d["venue"]), str(d["market"]), Outcome(d["outcome"]), int(d["limit_price"]),
            int(d["tick"]), int(d["lot"]), int(d["min_size"]), str(d["fee_kind"]), str(d["fee_param"]),
            str(d.get("grid", "")),
        )


@dataclass(frozen=True, slots=True)
class SagaPlan:
    saga_id: str
    pair: str
    direction: str
    size: int
    first: LegPlan
    second: LegPlan
    expected_cost: int
    expected_fees: int
    expected_profit: int
    detected_ns: int
    hedge: HedgeConfig = field(default_factory=HedgeConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "saga_id": self.saga_id, "pair": self.pair, "direction": self.direction,
            "size": self.size, "first": self.first.to_dict(), "second": self.second.to_dict(),
            "expected_cost": self.expected_cost, "expected_fees": self.expected_fees,
            "expected_profit": self.expected_profit, "detected_ns": self.detected_ns,
            "hedge": self.hedge.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SagaPlan:
        return cls(
            str(d["saga_id"]), str(d["pair"]), str(d["direction"]), int(d["size"]),
            LegPlan.from_dict(d["first"]), LegPlan.from_dict(d["second"]),
            int(d["expected_cost"]), int(d["expected_fees"]), int(d["expected_profit"]),
            int(d["detected_ns"]), HedgeConfig.from_dict(d["hedge"]),
        )


@dataclass(frozen=True, slots=True)
class SagaPolicy:
    """Which leg goes first and the per-venue order rules the plan needs.

    Default leg order: the *thinner* leg first when depth hints are given (its fill is the one in
    doubt, and leg 2 is then sized to what it really got), else the *slower* venue first by
    ``first_venues`` (the fast venue's book is less likely to move while the slow leg is in flight).
    """

    first_venues: tuple[str, ...] = ("polymarket", "kalshi")
    lots: Mapping[str, int] = field(
        default_factory=lambda: {"kalshi": 10_000, "polymarket": 10_000}
    )
    min_sizes: Mapping[str, int] = field(default_factory=dict)
    hedge: HedgeConfig = field(default_factory=HedgeConfig)


def _fee_terms(venue: str, pair: Pair) -> tuple[str, str]:
    if venue == "kalshi":
        m = pair.kalshi_fees.multiplier
        return "kalshi_series", f"{m.numerator}/{m.denominator}"
    if venue == "polymarket":
        fee = pair.polymarket_fee
        if fee is None:  # never planned: the detector builds no route for such a pair
            raise ValueError(pair.untradable_reason())
        return "polymarket", f"{fee.rate_text}:{fee.exponent}"
    return "none", "0"


def _min_size(venue: str, pair: Pair, policy: SagaPolicy) -> int:
    """The policy's floor, raised to the pair's Polymarket ``mos`` on a Polymarket leg."""
    floor = policy.min_sizes.get(venue, 0)
    if venue == "polymarket" and pair.polymarket_min_order_size is not None:
        return max(floor, pair.polymarket_min_order_size)
    return floor


def plan_saga(
    saga_id: str,
    opportunity: Opportunity,
    pair: Pair,
    policy: SagaPolicy | None = None,
    depth: Mapping[str, int] | None = None,
) -> SagaPlan:
    """Turn a detected opportunity into an executable plan (leg order, ticks, lots, fees).

    ``depth`` optionally maps a leg's market to the size available at its limit; the leg with
    less depth goes first.
    """
    policy = policy or SagaPolicy()
    legs = []
    for leg in opportunity.legs:
        kind, param = _fee_terms(leg.venue, pair)
        tick = pair.kalshi_tick if leg.venue == "kalshi" else pair.polymarket_tick
        grid = pair.kalshi_price_grid if leg.venue == "kalshi" else None
        legs.append(
            LegPlan(
                leg.venue, leg.market, leg.outcome, leg.limit_price, tick,
                policy.lots.get(leg.venue, 1), _min_size(leg.venue, pair, policy), kind, param,
                grid.text() if grid is not None and not grid.is_uniform else "",
            )
        )
    a, b = legs

    def rank(leg: LegPlan) -> tuple[int, int]:
        thin = depth.get(leg.market, 0) if depth else 0
        venue_rank = (
            policy.first_venues.index(leg.venue)
            if leg.venue in policy.first_venues
            else len(policy.first_venues)
        )
        return (thin, venue_rank) if depth else (0, venue_rank)

    first, second = (b, a) if rank(b) < rank(a) else (a, b)
    return SagaPlan(
        saga_id, opportunity.pair, opportunity.direction, opportunity.size, first, second,
        opportunity.cost, opportunity.fees, opportunity.profit, opportunity.detected_ns,
        policy.hedge,
    )


# -- events -------------------------------------------------------------------------------------


class Event:
    """Base of journaled saga events; ``kind`` names the type in the journal."""

    kind: ClassVar[str] = ""
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Started(Event):
    kind: ClassVar[str] = "started"
    plan: SagaPlan
    ts_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.to_dict(), "ts_ns": self.ts_ns}


@dataclass(frozen=True, slots=True)
class Intent(Event):
    """An order about to be sent; journaled (synchronously, durably) before it is."""

    kind: ClassVar[str] = "intent"
    step: str
    role: Role
    cid: str
    venue: str
    market: str
    outcome: Outcome
    action: str  # "buy" | "sell"
    price: int
    size: int
    ts_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "role": self.role.value, "cid": self.cid, "venue": self.venue,
            "market": self.market, "outcome": self.outcome.value, "action": self.action,
            "price": self.price, "size": self.size, "ts_ns": self.ts_ns,
        }


@dataclass(frozen=True, slots=True)
class OrderUnknown(Event):
    """The send failed in a way that leaves the order's existence unknown (timeout, 5xx)."""

    kind: ClassVar[str] = "unknown"
    step: str
    error: str
    ts_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "error": self.error, "ts_ns": self.ts_ns}


@dataclass(frozen=True, slots=True)
class OrderFinal(Event):
    """The order's final outcome: what filled, at what total cost and fee.

    ``source`` says how it was learnt: ``ack`` (the create answer), ``query`` (looked up by
    client order id), ``rejected`` (the venue refused it) or ``absent`` (the venue has no such
    order after the grace period: it was never placed).
    """

    kind: ClassVar[str] = "final"
    step: str
    order_id: str
    status: str
    filled: int
    cost: int
    fees: int
    source: str
    detail: str
    ts_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "order_id": self.order_id, "status": self.status,
            "filled": self.filled, "cost": self.cost, "fees": self.fees, "source": self.source,
            "detail": self.detail, "ts_ns": self.ts_ns,
        }


@dataclass(frozen=True, slots=True)
class Decided(Event):
    kind: ClassVar[str] = "decided"
    decision: HedgeDecision
    ts_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision.to_dict(), "ts_ns": self.ts_ns}


@dataclass(frozen=True, slots=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    ending: Ending
    reason: str
    #: settlement-valued PnL: matched pairs pay $1, residual valued at 0, all fees paid
    pnl: int
    residual: int
    ts_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "ending": self.ending.value, "reason": self.reason, "pnl": self.pnl,
            "residual": self.residual, "ts_ns": self.ts_ns,
        }


def event_from_dict(kind: str, d: Mapping[str, Any]) -> Event:
    """Rebuild an event from its journal form (the inverse of ``to_dict``)."""
    if kind == Started.kind:
        return Started(SagaPlan.from_dict(d["plan"]), int(d["ts_ns"]))
    if kind == Intent.kind:
        return Intent(
            str(d["step"]), Role(d["role"]), str(d["cid"]), str(d["venue"]), str(d["market"]),
            Outcome(d["outcome"]), str(d["action"]), int(d["price"]), int(d["size"]), int(d["ts_ns"]),
        )
    if kind == OrderUnknown.kind:
        return OrderUnknown(str(d["step"]), str(d["error"]), int(d["ts_ns"]))
    if kind == OrderFinal.kind:
        return OrderFinal(
            str(d["step"]), str(d["order_id"]), str(d["status"]), int(d["filled"]), int(d["cost"]),
            int(d["fees"]), str(d["source"]), str(d["detail"]), int(d["ts_ns"]),
        )
    if kind == Decided.kind:
        return Decided(HedgeDecision.from_dict(d["decision"]), int(d["ts_ns"]))
    if kind == Finished.kind:
        return Finished(
            Ending(d["ending"]), str(d["reason"]), int(d["pnl"]), int(d["residual"]), int(d["ts_ns"])
        )
    raise SagaError(f"unknown saga event kind {kind!r}")


# -- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Journal ``intent``, then send it as an IOC limit order."""

    intent: Intent


@dataclass(frozen=True, slots=True)
class ResolveOrder:
    """An order with no known outcome: look it up by ``cid``; never resend it."""

    order: OrderRecord


@dataclass(frozen=True, slots=True)
class DecideHedge:
    """A residual needs a hedge decision; the executor may fetch quotes for the two markets."""

    saga: Saga
    complete_leg: LegPlan
    unwind_leg: LegPlan

    def decide(self, view: MarketView | None, now_ns: int) -> Decided:
        return Decided(self.saga.hedge_decision(view), now_ns)


@dataclass(frozen=True, slots=True)
class Finish:
    event: Finished


Command = PlaceOrder | ResolveOrder | DecideHedge | Finish


# -- state --------------------------------------------------------------------------------------


@dataclass(slots=True)
class OrderRecord:
    intent: Intent
    state: str = "pending"  # pending | unknown | final
    final: OrderFinal | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def step(self) -> str:
        return self.intent.step

    @property
    def filled(self) -> int:
        return self.final.filled if self.final is not None else 0


class Saga:
    """One execution, rebuilt from events; ask :meth:`next_command`, journal, :meth:`apply`."""

    __slots__ = ("decisions", "ending", "finished", "orders", "plan", "state")

    def __init__(self, plan: SagaPlan) -> None:
        self.plan = plan
        self.state = SagaState.RESERVED
        self.orders: dict[str, OrderRecord] = {}
        self.decisions: list[HedgeDecision] = []
        self.finished: Finished | None = None
        self.ending: Ending | None = None

    @property
    def saga_id(self) -> str:
        return self.plan.saga_id

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    # -- construction ---------------------------------------------------------------------------
    @staticmethod
    def start(plan: SagaPlan, now_ns: int) -> tuple[Saga, Started]:
        return Saga(plan), Started(plan, now_ns)

    @staticmethod
    def replay(events: Iterable[Event]) -> Saga:
        it = iter(events)
        first = next(it, None)
        if not isinstance(first, Started):
            raise SagaError("a saga's first event must be 'started'")
        saga = Saga(first.plan)
        for event in it:
            saga.apply(event)
        return saga

    # -- quantities -----------------------------------------------------------------------------
    def _by_role(self, *roles: Role) -> list[OrderRecord]:
        return [o for o in self.orders.values() if o.intent.role in roles]

    def _sum(self, roles: Sequence[Role], what: str) -> int:
        total = 0
        for o in self._by_role(*roles):
            if o.final is not None:
                total += getattr(o.final, what)
        return total

    @property
    def leg1(self) -> OrderRecord | None:
        return self.orders.get("L1")

    @property
    def leg2(self) -> OrderRecord | None:
        return self.orders.get("L2")

    def held_first(self) -> int:
        return self._sum((Role.LEG1,), "filled") - self._sum((Role.UNWIND,), "filled")

    def held_second(self) -> int:
        return self._sum((Role.LEG2, Role.COMPLETE), "filled")

    def residual(self) -> int:
        """Contracts of the first leg with no matching second-leg contract."""
        return self.held_first() - self.held_second()

    def pnl(self) -> Money:
        """Settlement-valued PnL: pairs pay $1, unwinds return proceeds, residual counts 0."""
        pairs = min(self.held_first(), self.held_second())
        bought = self._sum((Role.LEG1, Role.LEG2, Role.COMPLETE), "cost")
        sold = self._sum((Role.UNWIND,), "cost")
        fees = self._sum(tuple(Role), "fees")
        return Money(pairs * PRICE_SCALE + sold - bought - fees)

    def pending(self) -> OrderRecord | None:
        for o in self.orders.values():
            if o.state != "final":
                return o
        return None

    # -- events ---------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        if self.finished is not None:
            raise SagaError(f"saga {self.saga_id} is finished; got {event.kind}")
        if isinstance(event, Intent):
            self._apply_intent(event)
        elif isinstance(event, OrderUnknown):
            order = self._order(event.step)
            if order.state == "final":
                raise SagaError(f"{self.saga_id}/{event.step}: unknown after final")
            order.state = "unknown"
            order.errors.append(event.error)
        elif isinstance(event, OrderFinal):
            self._apply_final(event)
        elif isinstance(event, Decided):
            if self.pending() is not None:
                raise SagaError(f"{self.saga_id}: hedge decided with an order in flight")
            if event.decision.attempt != len(self.decisions) + 1:
                raise SagaError(f"{self.saga_id}: hedge attempt {event.decision.attempt} out of order")
            self.decisions.append(event.decision)
            self.state = SagaState.HEDGING
        elif isinstance(event, Finished):
            if self.pending() is not None:
                raise SagaError(f"{self.saga_id}: finished with an order in flight")
            self.finished = event
            self.ending = event.ending
            self.state = SagaState.FAILED if event.ending is Ending.FAILED else SagaState.DONE
        elif isinstance(event, Started):
            raise SagaError(f"saga {self.saga_id} started twice")
        else:  # pragma: no cover - closed set
            raise SagaError(f"unexpected event {event!r}")

    def _order(self, step: str) -> OrderRecord:
        order = self.orders.get(step)
        if order is None:
            raise SagaError(f"{self.saga_id}: no intent for step {step}")
        return order

    def _apply_intent(self, event: Intent) -> None:
        if event.step in self.orders:
            raise SagaError(f"{self.saga_id}: step {event.step} already has an order")
        if self.pending() is not None:
            raise SagaError(f"{self.saga_id}: new intent while another order is in flight")
        if event.cid != client_order_id(self.saga_id, event.step):
            raise SagaError(f"{self.saga_id}: cid {event.cid} does not match step {event.step}")
        self.orders[event.step] = OrderRecord(event)
        self.state = {
            Role.LEG1: SagaState.LEG1_SUBMITTED,
            Role.LEG2: SagaState.LEG2_SUBMITTED,
        }.get(event.role, SagaState.HEDGE_SUBMITTED)

    def _apply_final(self, event: OrderFinal) -> None:
        order = self._order(event.step)
        if order.state == "final":
            raise SagaError(f"{self.saga_id}/{event.step}: final twice")
        if not 0 <= event.filled <= order.intent.size:
            raise SagaError(
                f"{self.saga_id}/{event.step}: filled {event.filled} outside 0..{order.intent.size}"
            )
        order.final = event
        order.state = "final"
        role = order.intent.role
        if role in (Role.LEG1, Role.LEG2):
            part = "1" if role is Role.LEG1 else "2"
            if event.filled == order.intent.size:
                self.state = SagaState(f"leg{part}_filled")
            elif event.filled:
                self.state = SagaState(f"leg{part}_partial")
            else:
                self.state = SagaState(f"leg{part}_rejected")
        else:
            self.state = SagaState.HEDGING

    # -- decisions ------------------------------------------------------------------------------
    def _intent(self, role: Role, leg: LegPlan, action: str, price: int, size: int, now_ns: int,
                attempt: int = 1) -> Intent:
        step = step_name(role.value, attempt)
        return Intent(
            step, role, client_order_id(self.saga_id, step), leg.venue, leg.market, leg.outcome,
            action, price, size, now_ns,
        )

    def _finish(self, ending: Ending, reason: str, now_ns: int) -> Finish:
        return Finish(Finished(ending, reason, self.pnl(), self.residual(), now_ns))

    def next_command(self, now_ns: int) -> Command | None:
        """What the executor must do next; ``None`` once the saga is terminal."""
        if self.finished is not None:
            return None
        pending = self.pending()
        if pending is not None:
            return ResolveOrder(pending)
        plan = self.plan
        leg1 = self.leg1
        if leg1 is None:
            return PlaceOrder(
                self._intent(Role.LEG1, plan.first, "buy", plan.first.limit_price, plan.size, now_ns)
            )
        if leg1.filled == 0:
            return self._finish(Ending.NO_FILL, f"leg 1 filled nothing ({_why(leg1)})", now_ns)
        if self.leg2 is None and not self.decisions:
            size2 = (leg1.filled // plan.second.lot) * plan.second.lot
            if size2 > 0 and size2 >= plan.second.min_size:
                return PlaceOrder(
                    self._intent(Role.LEG2, plan.second, "buy", plan.second.limit_price, size2, now_ns)
                )
        residual = self.residual()
        if residual == 0:
            if self.held_first() == 0:
                return self._finish(Ending.UNWOUND, "leg 1 sold back in full", now_ns)
            if self.decisions:
                return self._finish(Ending.HEDGED, f"matched after {len(self.decisions)} hedge(s)",
                                    now_ns)
            return self._finish(Ending.COMPLETED, "both legs matched", now_ns)
        if residual < 0:  # pragma: no cover - orders are sized so this cannot happen
            return self._finish(Ending.FAILED, f"second leg exceeds first by {-residual}", now_ns)
        if self.decisions:
            last = self.decisions[-1]
            chosen = last.chosen
            step = step_name(last.choice.value, last.attempt) if chosen is not None else None
            if chosen is not None and step not in self.orders:
                role = Role(last.choice.value)
                leg = plan.second if role is Role.COMPLETE else plan.first
                action = "buy" if role is Role.COMPLETE else "sell"
                return PlaceOrder(
                    self._intent(role, leg, action, chosen.limit, chosen.size, now_ns, last.attempt)
                )
            if chosen is None:
                return self._finish(Ending.FAILED, f"hedge impossible: {last.reason}", now_ns)
            if last.attempt >= plan.hedge.max_attempts:
                return self._finish(
                    Ending.FAILED,
                    f"residual {residual} left after {last.attempt} hedge attempt(s)",
                    now_ns,
                )
        return DecideHedge(self, plan.second, plan.first)

    def hedge_input(self) -> HedgeInput:
        """The residual and its share of leg 1's cost and fees (pro rata by contracts)."""
        residual = self.residual()
        bought = self._sum((Role.LEG1,), "filled")
        cost = self._sum((Role.LEG1,), "cost")
        fees = self._sum((Role.LEG1,), "fees")
        return HedgeInput(
            Size(residual),
            Money(cost * residual // bought) if bought else Money(0),
            Money(fees * residual // bought) if bought else Money(0),
            Price(self.plan.second.limit_price),
            len(self.decisions) + 1,
            sum(1 for o in self._by_role(Role.COMPLETE) if o.filled < o.intent.size),
        )

    def hedge_decision(self, view: MarketView | None) -> HedgeDecision:
        return decide_hedge(
            self.hedge_input(),
            self.plan.second.hedge_venue(),
            self.plan.first.hedge_venue(),
            self.plan.hedge,
            view,
        )

    def describe(self) -> str:
        """One line per order and decision: the saga's story as an operator reads it."""
        lines = [
            f"saga {self.saga_id} {self.plan.pair} {self.plan.direction} size {self.plan.size} "
            f"state {self.state.value}"
        ]
        for o in self.orders.values():
            i = o.intent
            result = (
                f"{o.final.status} filled {o.final.filled} cost {o.final.cost} fees {o.final.fees}"
                f" via {o.final.source}" if o.final is not None else o.state
            )
            lines.append(f"  {i.step} {i.role.value} {i.action} {i.size} {i.venue}:{i.market} "
                         f"{i.outcome.value} @ {i.price} cid={i.cid}: {result}")
        for d in self.decisions:
            lines.append(f"  hedge #{d.attempt} residual {d.residual}: {d.choice.value} ({d.reason})")
        if self.finished is not None:
            lines.append(f"  ended {self.finished.ending.value}: {self.finished.reason}; "
                         f"pnl {self.finished.pnl}")
        return "\n".join(lines)


def _why(order: OrderRecord) -> str:
    final = order.final
    if final is None:
        return "no answer"
    return f"{final.status} via {final.source}{': ' + final.detail if final.detail else ''}"

