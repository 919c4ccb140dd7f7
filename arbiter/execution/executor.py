"""Async saga runner: turns the pure saga's commands into venue calls, journaling first.

The loop is the same for a new saga and for one found unfinished after a crash::

    while command := saga.next_command(now):
        PlaceOrder   -> journal the intent (durable) -> place IOC -> journal the answer
        ResolveOrder -> look the order up by client order id (never resend) -> journal the answer
        DecideHedge  -> optional quotes -> pure hedge decision -> journal it
        Finish       -> journal the ending -> release the risk reservation

Send failures are classified by what they say about the order's existence: a venue rejection
means "not placed"; a timeout, 5xx, rate limit, dropped connection or duplicate-id answer means
"unknown", and the next command is a lookup. A lookup that finds nothing counts as "absent" only
after lookups have kept finding nothing for ``absent_grace_s``, so a request still in flight at
the venue cannot be mistaken for one that never arrived.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from arbiter.core.book import Outcome
from arbiter.core.detection import Opportunity
from arbiter.core.hedge import MarketView
from arbiter.core.ids import make_saga_id
from arbiter.core.pairs import Pair
from arbiter.core.positions import PositionBook, PositionError
from arbiter.core.residual import RESIDUAL_LOG, Residual, residual_of
from arbiter.core.risk import RiskBook, RiskDecision
from arbiter.core.saga import (
    DecideHedge,
    Event,
    Finish,
    Intent,
    OrderFinal,
    OrderRecord,
    OrderUnknown,
    PlaceOrder,
    ResolveOrder,
    Saga,
    SagaPlan,
    SagaPolicy,
    Started,
    plan_saga,
)
from arbiter.core.units import PRICE_SCALE, Price, Size
from arbiter.execution.journal import Journal
from arbiter.telemetry.logging import log_context
from arbiter.venues.base import (
    Action,
    DuplicateOrderError,
    ExchangeClient,
    LocalRateLimitError,
    NotFoundError,
    OrderAck,
    OrderRequest,
    OrderStatus,
    RateLimitedError,
    RejectedError,
    TimeInForce,
    TransientError,
    VenueError,
    in_terms_of,
    submit,
    unwrap,
)

if TYPE_CHECKING:
    from arbiter.core.accounts import UserContext

__all__ = ["Begun", "ExecutorConfig", "ExecutorStalled", "QuoteSource", "SagaExecutor", "SubmitResult"]

log = logging.getLogger(__name__)


class QuoteSource(Protocol):
    """Best (bid, ask) of one outcome of one market, or ``None`` when unknown."""

    def __call__(self, venue: str, market: str, outcome: Outcome) -> Awaitable[
        tuple[int | None, int | None] | None
    ]: ...


class RiskGate(Protocol):
    """What the executor needs from the risk manager shell."""

    def check_and_reserve(self, saga_id: str, opp: Opportunity) -> RiskDecision: ...

    def on_finished(self, saga: Saga, positions: PositionBook) -> Awaitable[None]: ...

    def release(self, saga_id: str) -> object: ...


class ExecutorStalled(RuntimeError):
    """An order's outcome could not be learnt in time; the saga stays open for recovery."""


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    order_timeout_s: float = 5.0
    query_timeout_s: float = 5.0
    #: lookups must find nothing for this long before an order counts as never placed; keep it
    #: above the longest time a request can sit in a client or venue queue (HTTP timeout)
    absent_grace_s: float = 5.0
    resolve_backoff_s: float = 0.05
    resolve_backoff_max_s: float = 1.0
    #: give up resolving (saga left open for the next recovery) after this long
    resolve_timeout_s: float = 60.0
    #: a pending order (Polymarket ``delayed``) is waited for on the client's user channel for
    #: at most this long at a time, then looked up by REST again
    pending_wait_s: float = 1.0


@dataclass(frozen=True, slots=True)
class Begun:
    """A saga as :meth:`SagaExecutor.begin` leaves it: started, leg 1 possibly in flight."""

    saga: Saga | None
    risk: RiskDecision | None
    #: leg 1's intent (journaled) and the awaitable for its answer, when it was sent
    first: Intent | None = None
    pending: Awaitable[OrderAck] | None = None


@dataclass(frozen=True, slots=True)
class SubmitResult:
    saga: Saga | None
    risk: RiskDecision | None

    @property
    def started(self) -> bool:
        return self.saga is not None


#: the sequence number of rehearsal saga ids: above anything a journal reaches, never journaled
_REHEARSAL_SEQ = 10**12 - 1

_UNKNOWN_ERRORS = (TransientError, RateLimitedError, DuplicateOrderError, TimeoutError, OSError)


def _final_from_ack(intent: Intent, ack: OrderAck, source: str, now_ns: int) -> OrderFinal:
    """The journal's final state of ``intent`` from the venue's view of its order.

    The venue may report the order in its own vocabulary (Kalshi's one YES book answers a
    "buy NO at 0.30" as ``outcome_side=no``, the same order as "sell YES at 0.70"), so the ack is
    first put in the intent's terms: the cost journaled is always what *this* order cost.
    """
    ack = in_terms_of(ack, intent.outcome, Action(intent.action))
    if ack.fill_cost is not None:
        cost = int(ack.fill_cost)
    else:
        price = ack.avg_fill_price if ack.avg_fill_price is not None else ack.price
        cost = int(price) * int(ack.filled)
    return OrderFinal(
        intent.step, ack.order_id, ack.status.value, int(ack.filled), cost,
        int(ack.fees), source, "", now_ns,
    )


class SagaExecutor:
    """Runs sagas for one tenant against one client per venue, journaling every transition.

    ``user`` names that tenant: the journal is bound to it (every row carries the tenant id, and
    a journal of another tenant is refused). The tier's limits reach the risk book where it is
    built (:func:`arbiter.tenancy.registry.apply_tier`, done by the bootstrap) and the tenant's rate
    budget reaches the venue clients (:class:`arbiter.venues.ratelimited.RateLimitedClient`).
    """

    def __init__(
        self,
        journal: Journal,
        clients: Mapping[str, ExchangeClient],
        pairs: Mapping[str, Pair],
        *,
        risk: RiskGate | None = None,
        policy: SagaPolicy | None = None,
        config: ExecutorConfig | None = None,
        clock: Callable[[], int] = time.time_ns,
        quotes: QuoteSource | None = None,
        user: UserContext | None = None,
    ) -> None:
        if user is not None:
            journal.bind_tenant(user.tenant_id)
        self.user = user
        self.journal = journal
        self.clients = dict(clients)
        self.pairs = dict(pairs)
        self.risk = risk
        self.policy = policy or SagaPolicy()
        self.config = config or ExecutorConfig()
        self.clock = clock
        self.quotes = quotes
        self.positions = journal.positions()
        #: told (venue, market, error) when the venue refuses an order; the engine uses it to
        #: re-read a Polymarket market whose fee, tick or minimum size changed (ADR 0036)
        self.on_rejected: Callable[[str, str, BaseException], None] | None = None
        #: told every saga event once it is durable, in order (traces: ADR 0144); an observer
        #: that raises is logged and never stops the saga
        self.observers: list[Callable[[Saga, Event], None]] = []
        #: told every residual once it is journaled (the arbiter exports and alerts it)
        self.on_residual: list[Callable[[Residual], None]] = []

    # -- entry points ---------------------------------------------------------------------------
    async def submit(self, opp: Opportunity, depth: Mapping[str, int] | None = None) -> SubmitResult:
        """Risk-check, reserve, journal and run one opportunity to a terminal state."""
        begun = self.begin(opp, depth)
        if begun.saga is not None:
            await self.complete(begun)
        return SubmitResult(begun.saga, begun.risk)

    def begin(self, opp: Opportunity, depth: Mapping[str, int] | None = None) -> Begun:
        """Everything up to leg 1 leaving the process, synchronously, in the caller's stack.

        Risk check and reservation, the plan, one durable journal record (saga start and the
        leg-1 intent together, one append to the intent log: ADR 0065), then leg 1 is handed
        to its client: a client with an order
        lane writes it to the socket before this returns (``arbiter.venues.base.submit``). The
        tick path calls this from the feed callback, so no event-loop turn sits between the
        frame that opened the window and the order (ADR 0064). :meth:`complete` does the rest.
        """
        pair = self.pairs.get(opp.pair)
        if pair is None:
            raise KeyError(f"opportunity for unknown pair {opp.pair!r}")
        for leg in opp.legs:
            self._client(leg.venue)  # refuse before reserving or journaling anything
        saga_id = self.journal.new_saga_id()
        decision: RiskDecision | None = None
        reservation = None
        if self.risk is not None:
            decision = self.risk.check_and_reserve(saga_id, opp)
            if not decision.approved:
                return Begun(None, decision)
            reservation = decision.reservation
        try:
            plan = plan_saga(saga_id, opp, pair, self.policy, depth)
            now = self.clock()
            fresh, first = _opening(plan, now)
            started = Started(plan, now)
            saga = self.journal.start(started, reservation, first, saga=fresh)
        except BaseException:
            if self.risk is not None and reservation is not None:
                self.risk.release(saga_id)
            raise
        if self.observers:
            self._notify(saga, started)
            if first is not None:
                self._notify(saga, first)
        if first is None:
            return Begun(saga, decision)
        pending = self._send(first)
        try:  # leg 1 is on the wire; the journal's SQLite rows follow at once
            self.journal.flush()
        except Exception:  # the intent log already holds the saga: never drop the sent order's
            # answer over a projection error; the next journal write retries (or fails the saga)
            with self._saga_context(saga), log_context(cid=first.cid):
                log.exception("journal projection of %s failed after leg 1 was sent", saga.saga_id)
        return Begun(saga, decision, first, pending)

    def rehearse(self, opp: Opportunity, risk: RiskBook | None = None) -> bytes | None:
        """:meth:`begin` without its effects, to keep its code in the CPU caches (ADR 0067).

        The same plan, saga, journal record and leg-1 request are built, and the risk rules run
        on ``risk`` (a shadow book: the tenant's is never touched), but nothing is reserved,
        journaled or sent, and no saga id is used up. Returns the bytes leg 1 would go out as
        (None when its client has no wire form to rehearse).
        """
        pair = self.pairs[opp.pair]
        now = self.clock()
        saga_id = make_saga_id(self.journal.token, _REHEARSAL_SEQ)
        reservation = None
        if risk is not None:
            decision = risk.check_and_reserve(saga_id, opp, now)
            reservation = decision.reservation
            risk.release(saga_id)
        plan = plan_saga(saga_id, opp, pair, self.policy, None)
        saga, first = _opening(plan, now)
        if first is None:
            return None
        saga.apply(first)
        self.journal.rehearse_start(Started(plan, now), reservation, first)
        rehearse = getattr(unwrap(self._client(first.venue)), "rehearse_order", None)
        return None if rehearse is None else rehearse(_request(first))

    async def complete(self, begun: Begun) -> Saga:
        """Await leg 1's answer (if :meth:`begin` sent it) and drive the saga to its end."""
        assert begun.saga is not None
        with self._saga_context(begun.saga):
            if begun.first is not None and begun.pending is not None:
                await self._settle(begun.saga, begun.first, begun.pending)
            return await self.drive(begun.saga)

    def _saga_context(self, saga: Saga) -> AbstractContextManager[None]:
        """Correlation ids of every log record written while this saga runs (ADR 0143).

        Context variables follow the asyncio task, so concurrent sagas never mix ids; the
        order's ``cid`` is added around each step that talks to a venue.
        """
        tenant = self.user.tenant_id if self.user is not None else self.journal.tenant
        return log_context(saga_id=saga.saga_id, tenant_id=tenant, pair=saga.plan.pair)

    async def drive(self, saga: Saga) -> Saga:
        """Advance ``saga`` until it is terminal (also the recovery path)."""
        with self._saga_context(saga):
            saga = await self._drive(saga)
        return saga

    async def _drive(self, saga: Saga) -> Saga:
        log.info("saga %s running", saga.saga_id)
        while True:
            command = saga.next_command(self.clock())
            if command is None:
                break
            if isinstance(command, PlaceOrder):
                await self._place(saga, command.intent)
            elif isinstance(command, ResolveOrder):
                with log_context(cid=command.order.intent.cid):
                    self._record(saga, await self._resolve(command.order))
            elif isinstance(command, DecideHedge):
                view = await self._view(command)
                self._record(saga, command.decide(view, self.clock()))
            elif isinstance(command, Finish):
                self._record(saga, command.event)
        finished = saga.finished
        log.info("saga %s finished: %s", saga.saga_id,
                 saga.ending.value if saga.ending is not None else "unfinished",
                 extra={"pnl": finished.pnl if finished is not None else 0})
        if finished is not None and saga.residual() > 0:
            await self.report_residual(saga)
        if self.risk is not None:
            await self.risk.on_finished(saga, self.positions)
        return saga

    async def report_residual(self, saga: Saga) -> Residual | None:
        """Name, value and journal what a failed saga left open (docs/adr/0171).

        Valued at the best bid of the held outcome from the quote source (a fresh REST book
        during recovery, the live book otherwise); no book known is no value, never zero.
        """
        bid: int | None = None
        leg = saga.plan.first
        if self.quotes is not None:
            try:
                got = await self.quotes(leg.venue, leg.market, leg.outcome)
                bid = got[0] if got is not None else None
            except Exception as exc:  # reported without a mark rather than not at all
                log.warning("no book to value the residual of %s: %s", saga.saga_id, _describe(exc))
        residual = residual_of(saga, bid, self.clock())
        if residual is None:
            return None
        self.journal.log(RESIDUAL_LOG, residual.to_dict(), residual.ts_ns)
        log.error("saga %s left a residual: %s contracts of %s (cost %s, mark %s): %s",
                  saga.saga_id, residual.contracts, residual.name, residual.cost,
                  residual.mark_value, residual.reason)
        for hook in self.on_residual:
            try:
                hook(residual)
            except Exception:
                log.exception("residual hook failed")
        return residual

    # -- steps ----------------------------------------------------------------------------------
    def _notify(self, saga: Saga, event: Event) -> None:
        for observer in self.observers:
            try:
                observer(saga, event)
            except Exception:
                log.exception("saga observer failed")

    def _record(self, saga: Saga, event: Event) -> None:
        self.journal.record(saga, event)
        if self.observers:
            self._notify(saga, event)
        if isinstance(event, OrderFinal) and event.filled:
            intent = saga.orders[event.step].intent
            try:
                self.positions.apply_fill(
                    intent.venue, intent.market, intent.outcome, intent.action, event.filled,
                    event.cost, event.fees,
                )
            except PositionError as exc:  # a projection; the journal stays the truth
                log.error("position update for %s failed: %s", intent.cid, exc)

    def _client(self, venue: str) -> ExchangeClient:
        client = self.clients.get(venue)
        if client is None:
            raise KeyError(f"no client for venue {venue!r}")
        return client

    async def _place(self, saga: Saga, intent: Intent) -> None:
        with log_context(cid=intent.cid):
            self._record(saga, intent)  # write-ahead: durable before anything leaves the process
            await self._settle(saga, intent, self._send(intent))

    def _send(self, intent: Intent) -> Awaitable[OrderAck]:
        """Hand an already journaled intent to its client (an order lane writes it now)."""
        try:
            return submit(self._client(intent.venue), _request(intent))
        except Exception as exc:  # a synchronous refusal is classified like an awaited one
            return _raise(exc)

    async def _settle(self, saga: Saga, intent: Intent, pending: Awaitable[OrderAck]) -> None:
        """Record what the venue answered to a sent intent, or that its outcome is unknown."""
        with log_context(cid=intent.cid):
            await self._settle_in_context(saga, intent, pending)

    async def _settle_in_context(self, saga: Saga, intent: Intent,
                                 pending: Awaitable[OrderAck]) -> None:
        try:
            async with asyncio.timeout(self.config.order_timeout_s):
                ack = await pending
        except LocalRateLimitError as exc:  # refused before sending: certainly not placed
            self._record(saga, _rejected(intent.step, exc, self.clock()))
            # the saga's next step (a hedge) needs a token too: wait until the budget has one
            # rather than burn every hedge attempt on instant refusals
            if exc.retry_after:
                await asyncio.sleep(min(float(exc.retry_after), self.config.order_timeout_s))
            return
        except _UNKNOWN_ERRORS as exc:
            self._record(saga, OrderUnknown(intent.step, _describe(exc), self.clock()))
            return
        except (RejectedError, VenueError) as exc:
            self._record(saga, _rejected(intent.step, exc, self.clock()))
            if self.on_rejected is not None:
                self.on_rejected(intent.venue, intent.market, exc)
            return
        except Exception as exc:  # anything else leaves the outcome unknown
            log.exception("place_order %s failed unexpectedly", intent.cid)
            self._record(saga, OrderUnknown(intent.step, _describe(exc), self.clock()))
            return
        if ack.status is OrderStatus.OPEN:
            # an IOC should never rest; make sure it cannot fill later, then learn its state
            self._record(saga, OrderUnknown(intent.step, "ack open for an IOC order", self.clock()))
            return
        if ack.status is OrderStatus.PENDING:
            # held by the venue (Polymarket ``delayed``): it may still fill in full, so nothing
            # may be hedged around it; the lookup waits for its outcome (ADR 0038)
            self._record(saga, OrderUnknown(
                intent.step, f"pending at the venue: {ack.order_id}", self.clock()))
            return
        try:
            final = _final_from_ack(intent, ack, "ack", self.clock())
        except ValueError as exc:  # not this order's direction: learn the truth by lookup
            self._record(saga, OrderUnknown(intent.step, _describe(exc), self.clock()))
            return
        self._record(saga, final)

    async def _resolve(self, order: OrderRecord) -> OrderFinal:
        intent = order.intent
        client = self._client(intent.venue)
        cfg = self.config
        backoff = cfg.resolve_backoff_s
        started = time.monotonic()
        await _prepare_lookup(client, intent)
        while True:
            try:
                ack = await asyncio.wait_for(
                    client.get_order(client_order_id=intent.cid), cfg.query_timeout_s
                )
            except NotFoundError:
                # the venue must have had the grace period *after we stopped waiting* for the
                # send (a timeout here, a crash before a restart) to show the order
                waited_s = time.monotonic() - started
                if waited_s >= cfg.absent_grace_s:
                    return OrderFinal(
                        intent.step, "", "absent", 0, 0, 0, "absent",
                        f"no order with this client id after {waited_s:.3f}s of lookups",
                        self.clock(),
                    )
            except Exception as exc:  # keep asking; the order exists or not
                log.warning("lookup of %s failed: %s", intent.cid, _describe(exc))
            else:
                if ack.status is OrderStatus.PENDING:
                    # never cancel or hedge around an order the venue still holds: wait for
                    # its outcome on the user channel, then ask REST again
                    await self._await_pending(client, ack.order_id)
                    if time.monotonic() - started > cfg.resolve_timeout_s:
                        raise ExecutorStalled(f"order {intent.cid} still pending at the venue")
                    continue
                if ack.status is not OrderStatus.OPEN:
                    try:
                        return _final_from_ack(intent, ack, "query", self.clock())
                    except ValueError as exc:  # the venue's order under our id is another one
                        raise ExecutorStalled(f"order {intent.cid}: {exc}") from None
                try:
                    await asyncio.wait_for(client.cancel_order(ack.order_id), cfg.query_timeout_s)
                except Exception as exc:  # the next lookup tells
                    log.warning("cancel of %s failed: %s", intent.cid, _describe(exc))
                continue
            if time.monotonic() - started > cfg.resolve_timeout_s:
                raise ExecutorStalled(f"could not resolve order {intent.cid} in time")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, cfg.resolve_backoff_max_s)

    async def _await_pending(self, client: ExchangeClient, order_id: str) -> None:
        """One bounded wait for news of a pending order (its client's user channel if any)."""
        wait = getattr(unwrap(client), "wait_for_update", None)
        timeout = self.config.pending_wait_s
        if wait is None:
            await asyncio.sleep(timeout)
            return
        try:
            await asyncio.wait_for(wait(order_id, timeout), timeout + self.config.query_timeout_s)
        except Exception as exc:  # the REST lookup that follows tells
            log.warning("waiting for pending order %s failed: %s", order_id, _describe(exc))
            await asyncio.sleep(min(timeout, self.config.resolve_backoff_max_s))

    async def _view(self, command: DecideHedge) -> MarketView | None:
        if self.quotes is None:
            return None
        # a known book with an empty side is "nothing to trade with", not "no idea": price it
        # out of reach so the option is marked unlikely
        ask: int | None = None
        bid: int | None = None
        leg = command.complete_leg
        try:
            got = await self.quotes(leg.venue, leg.market, leg.outcome)
            if got is not None:
                ask = got[1] if got[1] is not None else PRICE_SCALE
            leg = command.unwind_leg
            got = await self.quotes(leg.venue, leg.market, leg.outcome)
            if got is not None:
                bid = got[0] if got[0] is not None else 0
        except Exception as exc:  # decide on limits alone without quotes
            log.warning("quotes unavailable for hedge decision: %s", _describe(exc))
            return None
        return MarketView(
            Price(ask) if ask is not None else None, Price(bid) if bid is not None else None
        )


def _rejected(step: str, exc: BaseException, now_ns: int) -> OrderFinal:
    """The final state of an order that certainly was not placed."""
    return OrderFinal(step, "", "rejected", 0, 0, 0, "rejected", _describe(exc), now_ns)


async def _raise(exc: Exception) -> OrderAck:
    raise exc


def _opening(plan: SagaPlan, now: int) -> tuple[Saga, Intent | None]:
    """A fresh saga of ``plan`` and the order it opens with (None: it places nothing first)."""
    saga = Saga(plan)
    command = saga.next_command(now)
    return saga, command.intent if isinstance(command, PlaceOrder) else None


def _request(intent: Intent) -> OrderRequest:
    return OrderRequest(
        market=intent.market, outcome=intent.outcome, action=Action(intent.action),
        price=Price(intent.price), size=Size(intent.size), client_order_id=intent.cid,
        tif=TimeInForce.IOC,
    )


async def _prepare_lookup(client: ExchangeClient, intent: Intent) -> None:
    """Let a client that finds orders by a derived id re-derive it after a restart.

    Polymarket has no client order id: its client derives the order (and so its hash, the
    venue's order id) deterministically from the client order id and keeps the mapping in
    memory. A fresh process after a crash must re-sign the journaled intent to look it up;
    without this a lookup would answer "not found" for an order that exists.
    """
    sign = getattr(unwrap(client), "sign", None)  # under the dry-run/rate/timing wrappers
    if sign is None:
        return
    try:
        await sign(_request(intent))
    except Exception as exc:  # the lookup itself will report what is wrong
        log.warning("could not re-derive order %s for lookup: %s", intent.cid, _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
