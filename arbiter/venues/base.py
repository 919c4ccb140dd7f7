"""The venue-neutral order interface every exchange client implements, plus the dry-run wrapper.

Execution, the operator commands and the backtest exchange all talk to venues through
:class:`ExchangeClient`, so swapping Kalshi for Polymarket (or either for a simulated exchange)
never touches calling code. Everything crossing this boundary is exact integers in core units
(``Price``/``Size``/``Money``); wire strings stay inside each venue package.

Errors are typed by *what the caller should do*, not by HTTP status: retry later
(:class:`RateLimitedError`, :class:`TransientError`), fix credentials (:class:`AuthError`), give up
on this order (:class:`RejectedError`) or treat the object as absent (:class:`NotFoundError`). The
venue's own error code travels along for logs and reconciliation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

from arbiter.core.book import Outcome
from arbiter.core.units import PRICE_SCALE, Money, Price, Size, price_str, size_str

__all__ = [
    "Action",
    "AuthError",
    "DryRunClient",
    "DuplicateOrderError",
    "ExchangeClient",
    "FillReport",
    "LocalRateLimitError",
    "NotFoundError",
    "OrderAck",
    "OrderRequest",
    "OrderStatus",
    "Outcome",
    "PositionReport",
    "RateLimitedError",
    "RejectedError",
    "TimeInForce",
    "TransientError",
    "UnknownStatusError",
    "VenueError",
    "in_terms_of",
    "submit",
    "unwrap",
]

log = logging.getLogger(__name__)

ZERO_MONEY: Final = Money(0)


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    """Lifecycle as the caller needs it; venues map their own vocabularies onto these four."""

    OPEN = "open"  # resting (possibly partially filled)
    FILLED = "filled"  # nothing remains, everything executed
    CANCELED = "canceled"  # nothing remains, the rest was cancelled/expired (fills may be > 0)
    REJECTED = "rejected"  # never accepted (dry-run/simulated only; live rejections raise)
    #: accepted, not yet matched: the venue holds it and decides later (Polymarket ``delayed``:
    #: marketable orders on sports / ``seconds_delay`` markets match after the delay). Neither
    #: resting nor final: it may still fill in full, so nobody may hedge or resend around it.
    PENDING = "pending"

    @property
    def is_final(self) -> bool:
        return self not in (OrderStatus.OPEN, OrderStatus.PENDING)


# -- errors ----------------------------------------------------------------------------------


class VenueError(Exception):
    """A venue answered with an error (or could not be reached); ``code`` is the venue's own."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status


class AuthError(VenueError):
    """Credentials missing, unknown, expired or badly signed: retrying will not help."""


class RateLimitedError(VenueError):
    """The venue throttled us; ``retry_after`` seconds if the venue said, else ``None``."""

    def __init__(
        self, code: str, message: str, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(code, message, status)
        self.retry_after = retry_after


class RejectedError(VenueError):
    """The venue refused this request as such (bad price, no balance, market closed, ...)."""


class LocalRateLimitError(RateLimitedError):
    """Refused in this process before anything was sent: the order certainly does not exist.

    Unlike a venue's 429 (the venue answered, but a retried create might still race an earlier
    attempt), nothing left the process, so the executor can record the order as rejected at
    once instead of spending the lookup grace period proving it absent.
    """

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(code, message, status=None, retry_after=retry_after)


class DuplicateOrderError(RejectedError):
    """The ``client_order_id`` is already in use: the order may well exist; look it up."""


class TransientError(VenueError):
    """5xx, timeouts and dropped connections: the outcome of a mutation is *unknown*."""


class UnknownStatusError(TransientError):
    """The venue reported an order state this client does not know.

    Unknown is never zero: the order is not taken as resting (or as dead). As a
    :class:`TransientError` it makes the executor treat the outcome as unknown and learn it by
    lookup; a lookup that keeps answering an unknown state stalls the saga for recovery.
    """


class NotFoundError(VenueError):
    """Unknown market or order."""


# -- value objects -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One limit order in venue-neutral terms: buy/sell an outcome of a market at a price.

    ``client_order_id`` is mandatory and supplied by the caller (deterministically, e.g. from the
    saga step), because it is what makes a retried create idempotent on every venue.
    """

    market: str  # Kalshi ticker or Polymarket token/condition id
    outcome: Outcome
    action: Action
    price: Price  # price of ``outcome``, in core price units
    size: Size
    client_order_id: str
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    expires_at_s: int | None = None

    def describe(self) -> str:
        return (
            f"{self.action.value} {size_str(self.size)} {self.market} {self.outcome.value} "
            f"@ {price_str(self.price)} {self.tif.value} cid={self.client_order_id}"
        )


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The venue's view of an order after a create/cancel/lookup."""

    venue: str
    order_id: str
    client_order_id: str | None
    market: str
    outcome: Outcome
    action: Action
    price: Price
    size: Size  # initial size
    filled: Size
    remaining: Size
    status: OrderStatus
    avg_fill_price: Price | None = None
    fees: Money = ZERO_MONEY
    ts_ms: int | None = None
    simulated: bool = False
    #: exact cost of the filled part in the order's own terms, when the venue's average price is
    #: finer than a ``Price`` (Kalshi reports averages with up to 6 decimals); ``None``: use
    #: ``avg_fill_price`` (or ``price``) x ``filled``
    fill_cost: Money | None = None
    #: the exchange shard the order lives on (Kalshi ``exchange_index``), when the venue says
    exchange_index: int | None = None


@dataclass(frozen=True, slots=True)
class FillReport:
    venue: str
    fill_id: str
    order_id: str
    client_order_id: str | None
    market: str
    outcome: Outcome
    action: Action
    price: Price  # price of ``outcome``
    size: Size
    fee: Money
    is_taker: bool
    ts_ms: int
    exchange_index: int | None = None


@dataclass(frozen=True, slots=True)
class PositionReport:
    """Holding of one outcome of one market (Kalshi's signed net position is split by sign)."""

    venue: str
    market: str
    outcome: Outcome
    size: Size
    cost: Money | None = None
    realized_pnl: Money | None = None
    fees_paid: Money | None = None
    exchange_index: int | None = None


# -- the protocol ------------------------------------------------------------------------------


@runtime_checkable
class ExchangeClient(Protocol):
    """What execution needs from a venue. Implementations own one pooled connection each."""

    @property
    def venue(self) -> str:
        """Venue name ("kalshi", "polymarket"); read-only so wrappers can forward it."""
        ...

    async def place_order(self, request: OrderRequest) -> OrderAck: ...

    async def cancel_order(self, order_id: str) -> OrderAck: ...

    async def get_order(
        self, order_id: str | None = None, *, client_order_id: str | None = None
    ) -> OrderAck: ...

    async def open_orders(self, market: str | None = None) -> list[OrderAck]: ...

    async def fills(self, since_ms: int | None = None) -> list[FillReport]: ...

    async def positions(self) -> list[PositionReport]: ...

    async def balance(self) -> Money: ...

    async def close(self) -> None: ...


def unwrap(client: ExchangeClient) -> ExchangeClient:
    """The venue's own client under the wrappers (dry run, rate limit, timing): each keeps the
    one it wraps as ``inner``."""
    layer: ExchangeClient = client
    while (inner := getattr(layer, "inner", None)) is not None:
        layer = inner
    return layer


def submit(client: ExchangeClient, request: OrderRequest) -> Awaitable[OrderAck]:
    """Start placing ``request`` and return what to await for the venue's answer.

    A client with an order lane (``submit_order``) writes the request to the socket before
    this returns, inside the caller's stack, so the tick path pays no event-loop turn before
    the order is on the wire (docs/adr/0064-order-lane.md). Any other client is simply called:
    its request goes out when the returned coroutine is awaited. Wrappers (rate limit, timing)
    implement ``submit_order`` by passing it through so the lane stays reachable.
    """
    fast = getattr(client, "submit_order", None)
    if fast is not None:
        pending: Awaitable[OrderAck] = fast(request)
        return pending
    return client.place_order(request)


def in_terms_of(ack: OrderAck, outcome: Outcome, action: Action) -> OrderAck:
    """``ack`` re-expressed as ``action`` on ``outcome``, for a binary market with one book.

    Buying NO at q and selling YES at 1 - q are one and the same order on a venue with a single
    YES book (Kalshi: both are ``outcome_side=no``, ``book_side=ask``, docs
    ``/getting_started/order_direction``), so a venue can only report the direction, not which
    of the two the trader asked for. The caller that knows what it sent uses this to read the
    answer in its own vocabulary: the price becomes 1 - price and the cost of ``n`` filled
    contracts becomes ``n x $1 - cost``. A direction that is not the same order (buy YES read
    back for a buy NO) is a :class:`ValueError`: that is another order, never one to reinterpret.
    """
    if ack.outcome is outcome and ack.action is action:
        return ack
    if ack.outcome is outcome or ack.action is action:
        raise ValueError(
            f"order {ack.order_id} is {ack.action.value} {ack.outcome.value}, "
            f"not {action.value} {outcome.value} or its mirror"
        )
    avg = ack.avg_fill_price
    cost = ack.fill_cost
    return replace(
        ack,
        outcome=outcome,
        action=action,
        price=Price(PRICE_SCALE - ack.price),
        avg_fill_price=None if avg is None else Price(PRICE_SCALE - avg),
        fill_cost=None if cost is None else Money(ack.filled * PRICE_SCALE - cost),
    )


# -- dry run -----------------------------------------------------------------------------------


@dataclass
class DryRunClient:
    """Wraps a real client: mutations are logged and answered locally, reads go to the venue.

    Reads pass through so an operator sees the true account while rehearsing; the simulated acks
    carry ``simulated=True`` and ids prefixed ``dry-`` so they can never be mistaken for venue
    orders in a journal.
    """

    inner: ExchangeClient
    emit: Callable[[str], None] | None = None
    sent: list[OrderRequest] = field(default_factory=list)
    _acks: dict[str, OrderAck] = field(default_factory=dict)

    @property
    def venue(self) -> str:
        return self.inner.venue

    def _say(self, text: str) -> None:
        if self.emit is not None:
            log.info("%s", text)
            self.emit(text)
        else:
            log.warning("%s", text)

    async def place_order(self, request: OrderRequest) -> OrderAck:
        existing = self._acks.get(request.client_order_id)
        if existing is not None:  # idempotent like the venues: same cid, same order
            self._say(f"DRY-RUN {self.venue}: would place {request.describe()}")
            return existing
        await self._check(request)
        self.sent.append(request)
        self._say(f"DRY-RUN {self.venue}: would place {request.describe()}")
        ack = OrderAck(
            venue=self.venue,
            order_id=f"dry-{request.client_order_id}",
            client_order_id=request.client_order_id,
            market=request.market,
            outcome=request.outcome,
            action=request.action,
            price=request.price,
            size=request.size,
            filled=Size(0),
            remaining=Size(0) if request.tif is not TimeInForce.GTC else request.size,
            status=OrderStatus.OPEN if request.tif is TimeInForce.GTC else OrderStatus.CANCELED,
            simulated=True,
        )
        self._acks[request.client_order_id] = ack
        return ack

    async def _check(self, request: OrderRequest) -> None:
        """Refuse what the venue would refuse (tick, grid, minimum and whole sizes), with the
        typed error its refusal maps to: the venue client's ``check_order`` reads the market and
        applies the venue's rules without sending (ADR 0163). A client that cannot check is a
        refusal too: unknown is never "accepted"."""
        check: Callable[[OrderRequest], Awaitable[None]] | None = getattr(
            self.inner, "check_order", None)
        if check is None:
            raise RejectedError(
                "DRY_RUN_UNCHECKED", f"the {self.venue} client cannot check an order as the "
                "venue would, so the dry run cannot say it would be accepted")
        try:
            await check(request)
        except RejectedError as exc:
            self._say(f"DRY-RUN {self.venue}: the venue would refuse {request.describe()}: {exc}")
            raise

    async def cancel_order(self, order_id: str) -> OrderAck:
        self._say(f"DRY-RUN {self.venue}: would cancel {order_id}")
        for cid, ack in self._acks.items():
            if ack.order_id == order_id:
                done = replace(ack, remaining=Size(0), status=OrderStatus.CANCELED)
                self._acks[cid] = done
                return done
        current = await self.inner.get_order(order_id)
        return replace(current, remaining=Size(0), status=OrderStatus.CANCELED, simulated=True)

    async def get_order(
        self, order_id: str | None = None, *, client_order_id: str | None = None
    ) -> OrderAck:
        for ack in self._acks.values():
            if order_id == ack.order_id or (
                client_order_id is not None and client_order_id == ack.client_order_id
            ):
                return ack
        return await self.inner.get_order(order_id, client_order_id=client_order_id)

    async def open_orders(self, market: str | None = None) -> list[OrderAck]:
        return await self.inner.open_orders(market)

    async def fills(self, since_ms: int | None = None) -> list[FillReport]:
        return await self.inner.fills(since_ms)

    async def positions(self) -> list[PositionReport]:
        return await self.inner.positions()

    async def balance(self) -> Money:
        return await self.inner.balance()

    async def close(self) -> None:
        await self.inner.close()
