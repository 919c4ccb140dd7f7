"""Polymarket as an :class:`~arbiter.venues.base.ExchangeClient`.

``OrderRequest.market`` is the outcome *token id* (each token has its own book); the
request's ``outcome`` only labels the acks. Time in force maps GTC → GTC (GTD when
``expires_at_s`` is set), IOC → FAK, FOK → FOK.

Idempotency (docs/adr/0032): the venue has no client order id, but an order's id *is* the hash of
its signed struct. The salt is derived from (signer, ``client_order_id``), and the signed order
is kept per client order id, so a retried ``place_order`` re-sends the very same bytes: the venue
either accepts it once or answers ``INVALID_ORDER_DUPLICATED``, which we turn into a lookup of
the existing order. A retry can therefore never double an order.

The exchange generation (v1/v2 signing) comes from ``GET /version`` unless pinned, so the same
client signs V2 for the live venue and v1 for the local one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from arbiter.core.book import Outcome
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.units import (
    MONEY_SCALE,
    PRICE_SCALE,
    Money,
    Price,
    Size,
    UnitError,
    parse_price,
    parse_size,
    parse_tick,
)
from arbiter.venues.base import (
    Action,
    DuplicateOrderError,
    FillReport,
    NotFoundError,
    OrderAck,
    OrderRequest,
    OrderStatus,
    PositionReport,
    RejectedError,
    TimeInForce,
    UnknownStatusError,
)
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.constants import (
    DEFAULT_REST_URL,
    GTD_MIN_LEAD_S,
    SIDE_BUY,
    SIDE_SELL,
    VERSIONS,
    is_position_id,
)
from arbiter.venues.polymarket.market_info import ClobMarketInfo
from arbiter.venues.polymarket.orders import OrderSpec, SignedOrder, build_order
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.schemas import (
    PostOrderResponse,
    UserEvent,
    UserOrderEvent,
    UserTradeEvent,
)
from arbiter.venues.polymarket.ws import UserFeed

__all__ = ["PolymarketClient", "TokenMeta"]

VENUE = "polymarket"
_USDC_UNIT_TO_MONEY = MONEY_SCALE // 10**6
#: Every order state the venue reports, as ``polymarket-client`` 0.14.0 knows them
#: (``polymarket/models/clob/user_events.py`` ``KnownUserOrderStatus``; venues.md §0.1).
#: ``MATCHED`` does not mean fully filled: :func:`order_status` compares ``size_matched``.
#: Anything else is :class:`UnknownStatusError`, never a default.
_STATUS: dict[str, OrderStatus] = {
    "LIVE": OrderStatus.OPEN,
    "DELAYED": OrderStatus.PENDING,
    "MATCHED": OrderStatus.FILLED,
    "UNMATCHED": OrderStatus.CANCELED,
    "CANCELED": OrderStatus.CANCELED,
    "CANCELED_MARKET_RESOLVED": OrderStatus.CANCELED,
    "CANCELED_NOT_ENOUGH_BALANCE": OrderStatus.CANCELED,
    "CANCELED_MARKET_NOT_FOUND": OrderStatus.CANCELED,
    "CANCELED_EXPIRED_ORDER": OrderStatus.CANCELED,
    "CANCELED_ORDER_TIMED_OUT": OrderStatus.CANCELED,
    "INVALID": OrderStatus.CANCELED,
}
#: ``status`` of a ``POST /order`` answer (``polymarket-client`` ``OrderPostStatus`` plus
#: ``unmatched``, which its ``_infer_error_code`` reads; venues.md §2.5).
_POST_STATUSES = frozenset({"live", "matched", "delayed", "unmatched"})


#: longest first, so ``CANCELED_MARKET_RESOLVED_<reason>`` is not read as ``CANCELED``
_BY_LENGTH = sorted(_STATUS, key=len, reverse=True)


def _known_state(status: str) -> OrderStatus | None:
    """The mapped state of a wire status, in the spellings the venue is known to send.

    Besides the bare names: the OpenAPI form ``ORDER_STATUS_<NAME>`` and ``<NAME>_<reason>``
    (e.g. ``CANCELED_order couldn't be fully filled. ...``), both handled the same way by
    NautilusTrader's adapter (``crates/adapters/polymarket/src/common/enums.rs@082f58df``
    ``PolymarketOrderStatus::parse_wire``, with tests of each form).
    """
    text = status.strip()
    if text.upper().startswith("ORDER_STATUS_"):
        text = text[len("ORDER_STATUS_"):]
    mapped = _STATUS.get(text.upper())
    if mapped is not None:
        return mapped
    for name in _BY_LENGTH:
        if text[: len(name) + 1].upper() == name + "_":
            return _STATUS[name]
    return None


def order_status(status: str, size: int, filled: int) -> OrderStatus:
    """The caller's status of a venue order row; raises on a state nobody mapped."""
    mapped = _known_state(status)
    if mapped is None:
        raise UnknownStatusError("UNKNOWN_ORDER_STATUS", f"order status {status!r}")
    if mapped is OrderStatus.FILLED and filled < size:
        return OrderStatus.CANCELED  # matched in part (FAK / FOK remainder killed): a partial
    if mapped is OrderStatus.CANCELED and size and filled >= size:
        return OrderStatus.FILLED
    return mapped


@dataclass(frozen=True, slots=True)
class TokenMeta:
    tick: int
    neg_risk: bool
    fee_bps: int
    fetched_at: float


def _outcome(text: str, default: Outcome = Outcome.YES) -> Outcome:
    t = text.strip().lower()
    if t in ("yes", "up"):
        return Outcome.YES
    if t in ("no", "down"):
        return Outcome.NO
    return default


class PolymarketClient:
    """Orders, fills, balances of one Polymarket account through the CLOB REST API."""

    venue = VENUE

    def __init__(
        self,
        rest: PolymarketRest,
        *,
        exchange_version: int | None = None,
        meta_ttl_s: float = 60.0,
        ws_url: str | None = None,
    ) -> None:
        if rest.credentials is None:
            raise ValueError("PolymarketClient needs credentials")
        self.rest = rest
        self.credentials: PolymarketCredentials = rest.credentials
        self.exchange_version = exchange_version
        self.meta_ttl_s = meta_ttl_s
        self._meta: dict[str, TokenMeta] = {}
        #: ``/clob-markets`` answers by condition id (fee curve, min size, tick, neg-risk)
        self._markets: dict[str, ClobMarketInfo] = {}
        #: token id -> condition id (from ``/clob-markets`` tokens or ``/markets-by-token``)
        self._market_of: dict[str, str] = {}
        self._signed: dict[str, tuple[OrderSpec, SignedOrder]] = {}
        self._cid_of: dict[str, str] = {}
        #: the channels' base URL (``.../ws``); the user channel is opened on the first wait
        self.ws_url = ws_url
        self._user_feed: UserFeed | None = None
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        #: final states the user channel reported (``get_order`` answers them without REST)
        self._final: OrderedDict[str, OrderAck | None] = OrderedDict()
        #: where ``get_order`` answers came from: the user channel or REST
        self.view_stats: dict[str, int] = {"channel": 0, "rest": 0}

    @classmethod
    async def connect(
        cls,
        credentials: PolymarketCredentials,
        base_url: str = DEFAULT_REST_URL,
        *,
        exchange_version: int | None = None,
        ws_url: str | None = None,
    ) -> PolymarketClient:
        """Build a client and settle credentials and exchange version up front."""
        client = cls(PolymarketRest(base_url, credentials), exchange_version=exchange_version,
                     ws_url=ws_url)
        try:
            await client.ready()
        except BaseException:
            await client.close()
            raise
        return client

    async def ready(self) -> None:
        """Derive L2 credentials through L1 when none are configured; learn the version.

        Lazy so that a synchronous factory (the operator commands) can build the client.
        """
        if self.credentials.api is None:
            api = await self.rest.create_or_derive_api_key()
            self.credentials = replace(self.credentials, api=api)
            self.rest.credentials = self.credentials
        if self.exchange_version is None:
            self.exchange_version = await self.rest.version()

    async def close(self) -> None:
        if self._user_feed is not None:
            await self._user_feed.stop()
            self._user_feed = None
        await self.rest.close()

    # -- pending orders -----------------------------------------------------------------------
    async def wait_for_update(self, order_id: str, timeout_s: float) -> bool:
        """Wait until the user channel reports news of ``order_id``, at most ``timeout_s``.

        For orders the venue holds (``delayed``): the executor waits here and then asks REST,
        so a lost or early event costs at most ``timeout_s``, never a wrong answer. True when
        an ``order``/``trade`` event for the order arrived. Without a channel URL it only waits.
        """
        deadline = time.monotonic() + timeout_s
        if not await self._open_user_feed():
            await asyncio.sleep(timeout_s)
            return False
        assert self._user_feed is not None
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._user_feed.connected.wait()
                if order_id in self._seen:  # news since the caller last looked: consume it
                    del self._seen[order_id]
                    return True
                future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.setdefault(order_id, []).append(future)
                try:
                    await future
                finally:
                    waiting = self._waiters.get(order_id, [])
                    if future in waiting:
                        waiting.remove(future)
                    if not waiting:
                        self._waiters.pop(order_id, None)
        except TimeoutError:
            return False
        return True

    async def _open_user_feed(self) -> bool:
        """Start the user channel once (all markets of the key); False without a channel URL."""
        if self.ws_url is None or self.credentials.api is None:
            return False
        if self._user_feed is None:
            self._user_feed = UserFeed(self.credentials.api, self._on_user_event,
                                       ws_url=self.ws_url)
            await self._user_feed.start()
        return True

    def _final_from_event(self, event: UserOrderEvent) -> OrderAck | None:
        """The order's final state if this event proves one, else None (REST decides).

        Only facts that cannot be undone are taken from the channel: a ``CANCELLATION`` (the
        venue removed the order; ``size_matched`` is what it got) or a fill of the whole size.
        A partial ``UPDATE``, a state we do not know, or an event whose ``status`` contradicts
        its type is left to REST, so a lost, late, duplicated or reordered event can delay an
        answer but never give a wrong one.
        """
        try:
            size = parse_size(event.original_size)
            filled = parse_size(event.size_matched)
            price = parse_price(event.price)
        except UnitError:
            return None
        kind = event.type.upper()
        if kind == "CANCELLATION":
            status = OrderStatus.FILLED if size and filled >= size else OrderStatus.CANCELED
        elif size and filled >= size:
            status = OrderStatus.FILLED
        else:
            return None
        if event.status:
            try:
                said = order_status(event.status, size, filled)
            except UnknownStatusError:
                return None
            if said is not status:
                return None
        ts = event.timestamp
        return OrderAck(
            venue=VENUE, order_id=event.id, client_order_id=self._cid_of.get(event.id),
            market=event.asset_id, outcome=_outcome(event.outcome),
            action=Action.BUY if event.side.upper() == "BUY" else Action.SELL,
            price=price, size=size, filled=filled, remaining=Size(0), status=status,
            ts_ms=int(ts) if ts.isdigit() else None,
        )

    def _on_user_event(self, event: UserEvent) -> None:
        ids: list[str] = []
        if isinstance(event, UserOrderEvent):
            if event.type.upper() == "PLACEMENT":
                return  # the order exists; that is not news of its outcome
            final = self._final_from_event(event)
            if final is not None and event.id not in self._final:
                self._final[event.id] = final
                while len(self._final) > 4096:
                    self._final.popitem(last=False)
            elif final is not None:
                known = self._final[event.id]
                if known is not None and (known.status, known.filled) != (
                        final.status, final.filled):
                    # two different endings: only REST can say, for good (None = ask REST)
                    self._final[event.id] = None
            ids.append(event.id)
        elif isinstance(event, UserTradeEvent):
            ids.append(event.taker_order_id)
            ids.extend(m.order_id for m in event.maker_orders or ())
        for order_id in ids:
            waiting = self._waiters.pop(order_id, [])
            for future in waiting:
                if not future.done():
                    future.set_result(None)
            if not waiting:  # nobody waits yet: keep it for the next wait
                self._seen[order_id] = None
                self._seen.move_to_end(order_id)
        while len(self._seen) > 4096:
            self._seen.popitem(last=False)

    # -- metadata -----------------------------------------------------------------------------
    async def check_order(self, request: OrderRequest) -> None:
        """Refuse ``request`` as the venue would, without signing or sending it (the dry run's
        check): one ``GET /book`` read for the token's current tick and minimum size; the rules
        are in :mod:`arbiter.venues.polymarket.order_check`."""
        from arbiter.venues.polymarket.order_check import check_order

        check_order(await self.rest.book(request.market), request)

    async def token_meta(self, token_id: str, refresh: bool = False) -> TokenMeta:
        meta = self._meta.get(token_id)
        now = time.monotonic()
        if meta is not None and not refresh and now - meta.fetched_at < self.meta_ttl_s:
            return meta
        tick = parse_tick(await self.rest.tick_size(token_id))
        neg_risk = await self.rest.neg_risk(token_id)
        fee = await self.rest.fee_rate_bps(token_id)
        meta = self._meta[token_id] = TokenMeta(tick, neg_risk, fee, now)
        return meta

    async def clob_market(self, condition_id: str, refresh: bool = False) -> ClobMarketInfo:
        """The market's fee curve, minimum size, tick and neg-risk (``/clob-markets``).

        Cached per condition id; ``refresh`` re-reads it (after a ``tick_size_change`` or an
        order the venue refused for a changed fee or tick). A body of the wrong shape, or one
        without a fee we can compute, raises :class:`ClobMarketError` / :class:`FeeUnknownError`.
        """
        info = self._markets.get(condition_id)
        if info is None or refresh:
            info = self._markets[condition_id] = await self.rest.clob_market(condition_id)
            for token in info.token_ids:
                self._market_of[token] = condition_id
        return info

    async def token_fee(self, token_id: str, refresh: bool = False) -> PolymarketFeeModel:
        """The taker fee curve of the market ``token_id`` trades in (cached; no TTL: the engine
        refreshes it when the venue says the market changed)."""
        cid = self._market_of.get(token_id)
        if cid is None:
            cid = self._market_of[token_id] = await self.rest.condition_of_token(token_id)
        return (await self.clob_market(cid, refresh)).fee

    def note_tick(self, token_id: str, tick: int) -> None:
        """Feed a ``tick_size_change`` from the market channel into the order path."""
        meta = self._meta.get(token_id)
        if meta is not None:
            self._meta[token_id] = TokenMeta(tick, meta.neg_risk, meta.fee_bps, meta.fetched_at)

    # -- orders -------------------------------------------------------------------------------
    def _salt(self, client_order_id: str) -> int:
        digest = hashlib.sha256(
            f"{self.credentials.signer.address}:{client_order_id}".encode()
        ).digest()
        return int.from_bytes(digest[:6], "big")  # < 2^53: a JSON number every parser keeps

    async def sign(self, request: OrderRequest) -> SignedOrder:
        """The signed order for ``request``; the same ``client_order_id`` gives the same bytes."""
        cached = self._signed.get(request.client_order_id)
        if request.tif is TimeInForce.IOC:
            order_type = "FAK"
        elif request.tif is TimeInForce.FOK:
            order_type = "FOK"
        else:
            order_type = "GTD" if request.expires_at_s else "GTC"
        if cached is None and order_type == "GTD" and request.expires_at_s is not None:
            # only a first signature: a retry re-sends the bytes already sent (ADR 0032), whose
            # outcome at the venue a local refusal must not hide
            earliest = int(time.time()) + GTD_MIN_LEAD_S
            if request.expires_at_s < earliest:
                # refused before anything is signed or sent: the venue would refuse it anyway
                raise RejectedError(
                    "INVALID_ORDER_EXPIRATION",
                    f"GTD expiration {request.expires_at_s} is less than {GTD_MIN_LEAD_S} s "
                    f"ahead (earliest {earliest}); the venue refuses shorter GTD orders",
                )
        meta = await self.token_meta(request.market)
        creds = self.credentials
        spec = OrderSpec(
            token_id=request.market,
            side=SIDE_BUY if request.action is Action.BUY else SIDE_SELL,
            price=request.price,
            size=request.size,
            tick=meta.tick,
            neg_risk=meta.neg_risk,
            fee_rate_bps=meta.fee_bps,
            order_type=order_type,
            post_only=request.post_only,
            expiration=(request.expires_at_s or 0) if order_type == "GTD" else 0,
            salt=self._salt(request.client_order_id),
            signature_type=creds.signature_type,
            funder=creds.funder,
        )
        if cached is not None:
            old_spec, signed = cached
            if _same_intent(old_spec, spec):
                return signed
            raise RejectedError(
                "CLIENT_ORDER_ID_REUSED",
                f"client order id {request.client_order_id!r} was used for a different order",
            )
        version = self.exchange_version or 2
        generation = VERSIONS.get(version)
        if generation is None:  # unknown is never a default: no order is signed for it
            raise RejectedError(
                "UNSUPPORTED_EXCHANGE_VERSION",
                f"the venue's GET /version answered {version}; this client signs "
                f"{sorted(VERSIONS)}",
            )
        try:
            signed = build_order(spec, creds.signer, creds.chain_id, generation)
        except UnitError as exc:
            if time.monotonic() - meta.fetched_at > 1.0:  # the tick may have moved: re-read once
                fresh = await self.token_meta(request.market, refresh=True)
                if fresh.tick != meta.tick:
                    return await self.sign(request)
            raise RejectedError("INVALID_ORDER", str(exc)) from None
        self._signed[request.client_order_id] = (spec, signed)
        self._cid_of[signed.order_hash] = request.client_order_id
        return signed

    async def _post(self, request: OrderRequest, signed: SignedOrder) -> PostOrderResponse:
        """``POST /order`` with the venue's two recoverable refusals, each retried exactly once.

        * not enough balance / allowance: the venue caches balances; ``GET
          /balance-allowance/update`` makes it re-read them (what ``polymarket-client`` 0.14.0
          does before its one retry, ``orders/place.py``), then the same signed bytes go again.
        * ``order_version_mismatch``: the exchange generation changed under us; ``GET
          /version`` is re-read and the order re-signed for it (``py-clob-client-v2`` 1.2.1
          ``post_order`` / ``__resolve_version(force_update=True)``).

        A second refusal is raised as it is: never a loop.
        """
        try:
            return await self.rest.post_order(signed)
        except DuplicateOrderError:
            raise
        except RejectedError as exc:
            if exc.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE":
                asset, token = (  # polymarket-client allowance.py: CONDITIONAL-V2 for positions
                    ("COLLATERAL", "") if request.action is Action.BUY
                    else ("CONDITIONAL-V2" if is_position_id(request.market) else "CONDITIONAL",
                          request.market)
                )
                await self.rest.update_balance_allowance(asset, token)
            elif exc.code == "ORDER_VERSION_MISMATCH":
                self.exchange_version = await self.rest.version()
                self._forget(request.client_order_id)
                signed = await self.sign(request)
            else:
                raise
        return await self.rest.post_order(signed)

    def _forget(self, client_order_id: str) -> None:
        """Drop a signature the venue never accepted, so the next attempt signs afresh."""
        entry = self._signed.pop(client_order_id, None)
        if entry is not None:
            self._cid_of.pop(entry[1].order_hash, None)

    async def place_order(self, request: OrderRequest) -> OrderAck:
        await self.ready()
        # never send an order into a market whose fee we cannot price (ADR 0036): a typed
        # ClobMarketError / FeeUnknownError here means nothing was sent
        fee_model = await self.token_fee(request.market)
        await self._open_user_feed()  # its events answer later lookups of this order
        signed = await self.sign(request)
        try:
            resp = await self._post(request, signed)
        except DuplicateOrderError:
            # an earlier attempt reached the venue: report that order, never a second one
            # (the latest signature: a version change re-signs)
            latest = self._signed.get(request.client_order_id, (None, signed))[1]
            return await self.get_order(latest.order_hash)
        except RejectedError as exc:
            if exc.code == "FAK_ORDER_NOT_FILLED_ERROR":
                # A FAK that found nothing to match is killed: an outcome (nothing filled), not
                # a failure. The venue answers it with HTTP 400 and prose since V2, but it has
                # seen the order (a resubmission is "Duplicated"), so the ack carries the order
                # hash and the journal keeps the order it sent.
                return self._killed_ack(request, signed)
            if exc.code == "INVALID_ORDER_MIN_TICK_SIZE":
                # the venue's tick moved under us: forget the metadata and this never-accepted
                # signature, so the caller's next attempt signs on the new grid
                self._meta.pop(request.market, None)
                self._forget(request.client_order_id)
            raise
        signed = self._signed[request.client_order_id][1]  # re-signed on a version change
        shares_filled, usdc = (
            (resp.takingAmount, resp.makingAmount)
            if request.action is Action.BUY
            else (resp.makingAmount, resp.takingAmount)
        )
        filled = parse_size(shares_filled) if shares_filled else Size(0)
        avg = None
        if filled and usdc:
            avg = Price(parse_size(usdc) * PRICE_SCALE // filled)
        size = Size(request.size - request.size % 10_000)
        if resp.status not in _POST_STATUSES:
            raise UnknownStatusError(
                "UNKNOWN_ORDER_STATUS", f"order {resp.orderID} answered status {resp.status!r}"
            )
        if resp.status == "delayed":
            # held by the venue's matching delay: it can still fill in full (docs
            # /trading/orders/overview; polymarket-client OrderPostStatus) -- pending, not dead
            status, remaining = OrderStatus.PENDING, Size(size - filled)
        elif signed.order_type in ("FOK", "FAK"):
            status = OrderStatus.FILLED if filled >= size else OrderStatus.CANCELED
            remaining = Size(0)
        elif resp.status == "unmatched":
            status, remaining = OrderStatus.CANCELED, Size(0)
        elif filled >= size:
            status, remaining = OrderStatus.FILLED, Size(0)
        else:
            status, remaining = OrderStatus.OPEN, Size(size - filled)
        return OrderAck(
            venue=VENUE,
            order_id=resp.orderID or signed.order_hash,
            client_order_id=request.client_order_id,
            market=request.market,
            outcome=request.outcome,
            action=request.action,
            price=request.price,
            size=size,
            filled=filled,
            remaining=remaining,
            status=status,
            avg_fill_price=avg,
            fees=fee_model.taker_fee_bound(
                filled, request.price, avg, buy=request.action is Action.BUY
            ),
            ts_ms=int(time.time() * 1000),
        )

    def _killed_ack(self, request: OrderRequest, signed: SignedOrder) -> OrderAck:
        size = Size(request.size - request.size % 10_000)
        return OrderAck(
            venue=VENUE, order_id=signed.order_hash, client_order_id=request.client_order_id,
            market=request.market, outcome=request.outcome, action=request.action,
            price=request.price, size=size, filled=Size(0), remaining=Size(0),
            status=OrderStatus.CANCELED, avg_fill_price=None, ts_ms=int(time.time() * 1000))

    async def cancel_order(self, order_id: str) -> OrderAck:
        await self.ready()
        resp = await self.rest.cancel(order_id)
        not_canceled = resp.get("not_canceled") or {}
        if order_id in not_canceled and "not found" in str(not_canceled[order_id]).lower():
            raise NotFoundError("ORDER_NOT_FOUND", str(not_canceled[order_id]), 404)
        return await self.get_order(order_id)

    async def get_order(
        self, order_id: str | None = None, *, client_order_id: str | None = None
    ) -> OrderAck:
        await self.ready()
        if order_id is None:
            if client_order_id is None or client_order_id not in self._signed:
                raise NotFoundError(
                    "ORDER_NOT_FOUND", f"no order known for client order id {client_order_id!r}"
                )
            order_id = self._signed[client_order_id][1].order_hash
        final = self._final.get(order_id)
        if final is not None:  # the user channel saw it end: no REST round trip
            self.view_stats["channel"] += 1
            return await self._with_fee(final)
        self.view_stats["rest"] += 1
        return await self._with_fee(self._ack(await self.rest.order(order_id)))

    async def open_orders(self, market: str | None = None) -> list[OrderAck]:
        await self.ready()
        if market and market.startswith("0x"):
            rows = await self.rest.open_orders(market=market)
        else:
            rows = await self.rest.open_orders(asset_id=market or "")
        return [await self._with_fee(self._ack(r)) for r in rows]

    async def _with_fee(self, ack: OrderAck) -> OrderAck:
        """An order lookup carries no fee: bound it from the market's curve and the limit price
        (the exact per-match charge is in :meth:`fills`)."""
        if not ack.filled or not ack.market:
            return ack
        model = await self.token_fee(ack.market)
        bound = model.taker_fee_bound(ack.filled, ack.price, None, buy=ack.action is Action.BUY)
        return replace(ack, fees=bound)

    def _ack(self, row: dict[str, Any]) -> OrderAck:
        size = parse_size(str(row.get("original_size", "0")))
        filled = parse_size(str(row.get("size_matched", "0")))
        status = order_status(str(row.get("status", "")), size, filled)
        remaining = Size(size - filled) if not status.is_final else Size(0)
        order_id = str(row["id"])
        created = row.get("created_at")
        return OrderAck(
            venue=VENUE,
            order_id=order_id,
            client_order_id=self._cid_of.get(order_id),
            market=str(row.get("asset_id", "")),
            outcome=_outcome(str(row.get("outcome", ""))),
            action=Action.BUY if str(row.get("side", "")).upper() == "BUY" else Action.SELL,
            price=parse_price(str(row.get("price"))),
            size=size,
            filled=filled,
            remaining=remaining,
            status=status,
            ts_ms=int(created) * 1000 if isinstance(created, int) else None,
        )

    # -- account ------------------------------------------------------------------------------
    async def fills(self, since_ms: int | None = None) -> list[FillReport]:
        await self.ready()
        after = since_ms // 1000 if since_ms is not None else None
        trades = await self.rest.trades(after=after)
        me = self.credentials.api.api_key if self.credentials.api else ""
        maker_addr = self.credentials.maker
        out: list[FillReport] = []
        for t in trades:
            ts_ms = int(t.get("match_time") or 0) * 1000
            if since_ms is not None and ts_ms < since_ms:
                continue
            if t.get("owner") == me and t.get("trader_side", "TAKER") == "TAKER":
                price = parse_price(str(t["price"]))
                size = parse_size(str(t["size"]))
                # a V2 trade carries no fee amount and its fee_rate_bps reads 0 although a fee is
                # charged (py-clob-client-v2 issue #107): the charge is the market's fd curve
                fee_model = (await self.clob_market(str(t.get("market", "")))).fee
                order_id = str(t.get("taker_order_id", ""))
                out.append(FillReport(
                    venue=VENUE,
                    fill_id=str(t["id"]),
                    order_id=order_id,
                    client_order_id=self._cid_of.get(order_id),
                    market=str(t.get("asset_id", "")),
                    outcome=_outcome(str(t.get("outcome", ""))),
                    action=Action.BUY if t.get("side") == "BUY" else Action.SELL,
                    price=price,
                    size=size,
                    fee=fee_model.match_fee(price, size),
                    is_taker=True,
                    ts_ms=ts_ms,
                ))
            for m in t.get("maker_orders") or []:
                if m.get("owner") != me and m.get("maker_address") != maker_addr:
                    continue
                order_id = str(m.get("order_id", ""))
                out.append(FillReport(
                    venue=VENUE,
                    fill_id=f"{t['id']}:{order_id}",
                    order_id=order_id,
                    client_order_id=self._cid_of.get(order_id),
                    market=str(m.get("asset_id", "")),
                    outcome=_outcome(str(m.get("outcome", ""))),
                    action=Action.BUY if m.get("side") == "BUY" else Action.SELL,
                    price=parse_price(str(m["price"])),
                    size=parse_size(str(m["matched_amount"])),
                    fee=Money(0),
                    is_taker=False,
                    ts_ms=ts_ms,
                ))
        return out

    async def balance(self) -> Money:
        await self.ready()
        data = await self.rest.balance_allowance("COLLATERAL")
        return Money(int(data["balance"]) * _USDC_UNIT_TO_MONEY)

    async def token_balance(self, token_id: str) -> Size:
        await self.ready()
        asset = "CONDITIONAL-V2" if is_position_id(token_id) else "CONDITIONAL"  # docs
        data = await self.rest.balance_allowance(asset, token_id)  # /protocol-v2-migration
        return Size(int(data["balance"]))

    async def positions(self) -> list[PositionReport]:
        """Token balances of every token this account traded (the CLOB has no positions call).

        The live venue serves positions from its separate data API; reading balances of traded
        tokens needs no extra host and is exact.
        """
        tokens: dict[str, Outcome] = {}
        for fill in await self.fills():
            tokens.setdefault(fill.market, fill.outcome)
        out: list[PositionReport] = []
        for token, outcome in tokens.items():
            size = await self.token_balance(token)
            if size:
                out.append(PositionReport(VENUE, token, outcome, size))
        return out


def _same_intent(a: OrderSpec, b: OrderSpec) -> bool:
    """Equal apart from metadata that may be refreshed between attempts (fee, tick, version)."""
    return (a.token_id, a.side, a.price, a.size, a.order_type, a.post_only, a.expiration) == (
        b.token_id, b.side, b.price, b.size, b.order_type, b.post_only, b.expiration
    )
