"""Kalshi REST client: one pooled aiohttp session, signed requests, typed errors, safe retries.

Retries follow one rule: only a request whose repetition cannot create a second effect is
repeated. GETs retry on 5xx/429/timeouts with exponential backoff. A create is made idempotent
by its ``client_order_id``: after an unknown outcome we first *look the order up* and only resend
when the venue has no order with that id, so a retried create never places two orders (the venue
itself only rejects duplicate ids among *open* orders, which would not protect a filled IOC).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Mapping
from dataclasses import replace
from typing import Any, Final

import aiohttp
import msgspec

from arbiter.core.fees import KalshiFeeError
from arbiter.core.price_grid import PriceGrid
from arbiter.core.units import PRICE_SCALE, Money, Price
from arbiter.venues.base import (
    AuthError,
    DuplicateOrderError,
    FillReport,
    NotFoundError,
    OrderAck,
    OrderRequest,
    OrderStatus,
    PositionReport,
    RateLimitedError,
    TransientError,
    VenueError,
)
from arbiter.venues.kalshi.config import KalshiConfig, load_signer
from arbiter.venues.kalshi.errors import error_from_response
from arbiter.venues.kalshi.grid import GridError, grids_of
from arbiter.venues.kalshi.series import (
    KalshiSeriesInfo,
    MarketFees,
    event_series_ticker,
    fees_with_event_override,
    series_from_wire,
)
from arbiter.venues.kalshi.signing import PresignedHeaders, Signer, signing_path
from arbiter.venues.kalshi.wire import (
    VENUE,
    KalshiMarket,
    Levels,
    WireError,
    ack_from_create,
    ack_from_order,
    balance_from_wire,
    fill_from_wire,
    market_from_wire,
    order_body,
    orderbook_from_wire,
    position_from_wire,
    shard_balances_from_wire,
)
from arbiter.venues.orderlane import LaneBroken, LaneResponse, OrderLane

__all__ = ["KalshiRestClient", "error_from_response"]

log = logging.getLogger(__name__)

PAGE_LIMIT: Final = 1000
#: orders whose market the client remembers for routing cancels (most recent first kept)
ORDER_MARKETS_KEPT: Final = 100_000
#: the order-create endpoint (relative to the API base)
CREATE_PATH: Final = "/portfolio/events/orders"


def _create_body(request: OrderRequest) -> bytes:
    """A create's JSON body as the order lane writes it (and the tick-path rehearsal renders it).

    msgspec: the same compact JSON as ``json.dumps`` with separators, in ~1 µs.
    """
    return msgspec.json.encode(order_body(request))


class KalshiRestClient:
    """:class:`~arbiter.venues.base.ExchangeClient` for Kalshi, speaking the live (2026) forms."""

    venue = VENUE

    def __init__(
        self,
        config: KalshiConfig,
        signer: Signer | None = None,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.25,
        max_backoff_s: float = 5.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self.signer = signer if signer is not None else (
            load_signer(config) if config.has_credentials else None
        )
        self.base = config.rest_url.rstrip("/")
        self._base_path = signing_path(self.base)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._session = session
        self._own_session = session is None
        #: number of HTTP attempts made (tests and metrics read it)
        self.attempts = 0
        self._lane: OrderLane | None = None
        self._create_headers: PresignedHeaders | None = None
        self._presigner: asyncio.Task[None] | None = None
        #: ticker -> exchange shard, from every market read (the risk check asks for it)
        self.market_shards: dict[str, int] = {}
        #: order id -> ticker, from creates and reads: a cancel names its market so the venue
        #: routes it to the market's shard (docs /getting_started/exchange_sharding)
        self._order_markets: dict[str, str] = {}
        #: markets a ``markets()`` page carried that could not be read (skipped, not fatal)
        self.skipped_markets = 0

    async def __aenter__(self) -> KalshiRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(limit=32, ttl_dns_cache=300),
                headers={"Accept": "application/json", "User-Agent": "arbiter/0.1"},
            )
        return self._session

    async def close(self) -> None:
        if self._presigner is not None:
            self._presigner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._presigner
            self._presigner = None
        self._create_headers = None
        if self._lane is not None:
            await self._lane.close()
            self._lane = None
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # -- transport ---------------------------------------------------------------------------

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        auth: bool,
    ) -> Any:
        self.attempts += 1
        headers: dict[str, str] = {}
        if auth or self.signer is not None:
            if self.signer is None:
                raise AuthError("missing_credentials", "this call needs Kalshi credentials")
            pre = self._create_headers
            if pre is not None and method == pre.method and self._base_path + path == pre.path:
                headers.update(pre.get())  # a create that missed the lane: still no RSA inline
            else:
                headers.update(self.signer.headers(method, self._base_path + path))
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            async with self._http().request(
                method, self.base + path, params=params, data=data, headers=headers
            ) as resp:
                text = await resp.text()
                return _decode(method, path, resp.status, text, resp.headers.get("Retry-After"))
        except TimeoutError:
            raise TransientError("timeout", f"{method} {path} timed out") from None
        except aiohttp.ClientError as exc:
            raise TransientError("connection", f"{method} {path}: {exc}") from None

    # -- order lane (docs/adr/0064-order-lane.md) ------------------------------------------------

    @property
    def order_lane(self) -> OrderLane | None:
        """The lane creates go through when it has an idle connection (None until opened)."""
        return self._lane

    @property
    def presigned(self) -> PresignedHeaders | None:
        """The create's headers signed ahead of use (None until the lane is opened)."""
        return self._create_headers

    async def open_order_lane(self, size: int = 2, presign_max_age_ms: int = 2_000) -> None:
        """Keep ``size`` connections ready for creates; :meth:`submit_order` then writes inline.

        The create's headers are signed ahead (:class:`PresignedHeaders`) and re-signed every
        half ``presign_max_age_ms`` by a timer, so no RSA signature sits on the tick path.
        """
        if self.signer is None:
            raise AuthError("missing_credentials", "an order lane needs Kalshi credentials")
        if self._lane is None:
            self._lane = OrderLane(self.base, size=size)
        await self._lane.open()
        if self._create_headers is None:
            self._create_headers = PresignedHeaders(
                self.signer, "POST", self._base_path + CREATE_PATH, presign_max_age_ms
            )
            self._create_headers.refresh()
            self._presigner = asyncio.get_running_loop().create_task(
                self._presign(self._create_headers)
            )

    @staticmethod
    async def _presign(headers: PresignedHeaders) -> None:
        period = headers.max_age_ms / 2_000
        while True:
            await asyncio.sleep(period)
            headers.refresh()

    def rehearse_order(self, request: OrderRequest) -> bytes | None:
        """The bytes the lane would write for ``request``, sent nowhere: keeps the create's code
        in the CPU caches between real orders (ADR 0067). None without an open lane."""
        lane, headers = self._lane, self._create_headers
        if lane is None or headers is None:
            return None
        return lane.render("POST", headers.path, headers.get(), _create_body(request))

    def _lane_send(self, request: OrderRequest) -> asyncio.Future[LaneResponse] | None:
        """Write the create on an idle lane connection now; ``None``: use the pooled client."""
        lane, headers = self._lane, self._create_headers
        if lane is None or headers is None:
            return None
        pending = lane.submit("POST", headers.path, headers.get(), _create_body(request))
        if pending is not None:
            self.attempts += 1
        return pending

    async def _lane_answer(self, pending: asyncio.Future[LaneResponse]) -> Any:
        try:
            async with asyncio.timeout(self.timeout.total):
                resp = await pending
        except TimeoutError:  # the lane closes the connection: a late answer is never reused
            raise TransientError("timeout", f"POST {CREATE_PATH} timed out") from None
        except LaneBroken as exc:
            raise TransientError("connection", f"POST {CREATE_PATH}: {exc}") from None
        text = resp.body.decode("utf-8", "replace")
        return _decode("POST", CREATE_PATH, resp.status, text, resp.headers.get("retry-after"))

    def _delay(self, attempt: int, err: VenueError) -> float:
        if isinstance(err, RateLimitedError) and err.retry_after is not None:
            return float(err.retry_after)
        base = min(self.max_backoff_s, self.backoff_s * (1 << attempt))
        return base * (0.5 + random.random() / 2)  # jitter: desynchronise many clients

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        auth: bool = True,
        retry: bool = True,
    ) -> Any:
        attempt = 0
        while True:
            try:
                return await self._once(method, path, params, body, auth)
            except (TransientError, RateLimitedError) as err:
                if not retry or attempt >= self.max_retries:
                    raise
                delay = self._delay(attempt, err)
                log.info("kalshi %s %s: %s; retry in %.2fs", method, path, err.code, delay)
                attempt += 1
                await asyncio.sleep(delay)

    # -- public market data ------------------------------------------------------------------

    async def exchange_status(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._request("GET", "/exchange/status", auth=False)
        return data

    async def markets(
        self, status: str | None = None, tickers: list[str] | None = None, limit: int = 1000
    ) -> list[KalshiMarket]:
        out: list[KalshiMarket] = []
        skipped, first_error = 0, None
        cursor = ""
        while True:
            params = {"limit": str(min(limit, PAGE_LIMIT))}
            if status:
                params["status"] = status
            if tickers:
                params["tickers"] = ",".join(tickers)
            if cursor:
                params["cursor"] = cursor
            data = await self._request("GET", "/markets", params, auth=False)
            for raw in data.get("markets") or []:
                try:
                    out.append(self._remember(market_from_wire(raw)))
                except WireError as exc:
                    # one odd market never fails the page: skip it, count it, say so once
                    skipped += 1
                    if first_error is None:
                        first_error = str(exc)
            cursor = data.get("cursor") or ""
            if not cursor or len(out) >= limit:
                break
        if skipped:
            self.skipped_markets += skipped
            log.warning("kalshi markets: skipped %d unreadable market(s); first: %s",
                        skipped, first_error)
        return out[:limit]

    def _note_market(self, order_id: str, market: str) -> None:
        """Remember an order's market for its cancel; the oldest go first past a bound, so a
        long-running process keeps memory flat (a forgotten one costs one lookup)."""
        markets = self._order_markets
        markets[order_id] = market
        if len(markets) > ORDER_MARKETS_KEPT:
            del markets[next(iter(markets))]

    def _remember(self, market: KalshiMarket) -> KalshiMarket:
        self.market_shards[market.ticker] = market.exchange_index
        return market

    async def check_order(self, request: OrderRequest) -> None:
        """Refuse ``request`` as the venue would, without sending it (the dry run's check): one
        ``GET /markets/{ticker}`` read; the rules are in :mod:`arbiter.venues.kalshi.order_check`."""
        from arbiter.venues.kalshi.order_check import check_order  # it imports this module

        check_order(await self.market(request.market), request)

    async def market(self, ticker: str) -> KalshiMarket:
        data = await self._request("GET", f"/markets/{_quote(ticker)}", auth=False)
        return self._remember(market_from_wire(data["market"]))

    def known_shard(self, ticker: str) -> int | None:
        """The shard of ``ticker`` if a market read told it (no request); else None."""
        return self.market_shards.get(ticker)

    async def shard_of(self, ticker: str) -> int:
        """The exchange shard ``ticker`` lives on (read once from the venue, then remembered)."""
        shard = self.market_shards.get(ticker)
        if shard is None:
            shard = (await self.market(ticker)).exchange_index
        return shard

    async def orderbook(self, ticker: str, depth: int = 0) -> tuple[Levels, Levels]:
        data = await self._request(
            "GET", f"/markets/{_quote(ticker)}/orderbook", {"depth": str(depth)}, auth=False
        )
        return orderbook_from_wire(data)

    async def market_grids(self, tickers: list[str]) -> dict[str, PriceGrid | GridError]:
        """Each market's price grid as the venue states it (``price_ranges``); a market the
        venue does not list, or whose grid cannot be read, maps to its :class:`GridError`."""
        return grids_of(await self.markets_by_ticker(tickers), tickers)

    async def markets_by_ticker(self, tickers: list[str]) -> dict[str, Mapping[str, Any]]:
        """The venue's market objects (as sent) of ``tickers``, 100 per request."""
        out: dict[str, Mapping[str, Any]] = {}
        for i in range(0, len(tickers), 100):
            chunk = tickers[i:i + 100]
            cursor = ""
            while True:
                params = {"tickers": ",".join(chunk), "limit": str(len(chunk))}
                if cursor:
                    params["cursor"] = cursor
                data = await self._request("GET", "/markets", params, auth=False)
                for m in data.get("markets") or []:
                    if isinstance(m, Mapping) and m.get("ticker") in chunk:
                        out[str(m["ticker"])] = m
                cursor = data.get("cursor") or ""
                if not cursor:
                    break
        return out

    # -- fees --------------------------------------------------------------------------------

    async def series(self, series_ticker: str) -> KalshiSeriesInfo:
        """``GET /series/{ticker}``: the series' fee type and multiplier (public)."""
        data = await self._request("GET", f"/series/{_quote(series_ticker)}", auth=False)
        return series_from_wire(data)

    async def market_fees(self, market_ticker: str) -> MarketFees:
        """The fee schedule ``market_ticker`` charges: its event's series, with the event's
        overrides applied (three public GETs; ``arbiter pairs refresh`` calls this).

        The market is read by the one market reader (:meth:`market`): empty-side sentinels
        are no quote there, and a market it cannot read (an unknown price level structure or
        status) is a :class:`KalshiFeeError` naming it, so it is not traded.

        Raises :class:`~arbiter.core.fees.KalshiFeeError` for a schedule we cannot price.
        """
        try:
            market = await self.market(market_ticker)
        except WireError as exc:
            raise KalshiFeeError(f"market {market_ticker}: {exc}") from None
        if not market.event_ticker:
            raise KalshiFeeError(f"market {market_ticker}: the answer names no event_ticker")
        event = await self._request("GET", f"/events/{_quote(market.event_ticker)}",
                                    auth=False)
        series = await self.series(event_series_ticker(event))
        return fees_with_event_override(market_ticker, event, series)

    # -- orders ------------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> Awaitable[OrderAck]:
        """Like :meth:`place_order`, but the create is already on the wire when this returns
        (when the order lane has an idle connection; see :func:`arbiter.venues.base.submit`)."""
        return self._place(request, self._lane_send(request))

    async def place_order(self, request: OrderRequest) -> OrderAck:
        return await self._place(request, self._lane_send(request))

    async def _place(
        self, request: OrderRequest, sent: asyncio.Future[LaneResponse] | None
    ) -> OrderAck:
        attempt = 0
        while True:
            try:
                if sent is not None:  # the lane wrote it already: its body is not built again
                    pending, sent = sent, None
                    data = await self._lane_answer(pending)
                else:
                    data = await self._request(
                        "POST", CREATE_PATH, body=order_body(request), retry=False
                    )
                try:
                    ack = ack_from_create(request, data)
                except WireError as exc:
                    # the venue took the order (201) but its answer is unreadable: the order
                    # may have filled, so learn its state by lookup; never drop it
                    log.warning("kalshi create %s: unreadable answer (%s); looking it up",
                                request.client_order_id, exc)
                    return await self._find_after_create(request, exc)
                self._note_market(ack.order_id, request.market)
                if ack.fill_cost is not None and ack.avg_fill_price is None:
                    ack = await self._exact_cost(ack)
                return ack
            except DuplicateOrderError:
                # our own earlier attempt got through: report that order, do not place another
                return await self._find(request.client_order_id, request.market)
            except (TransientError, RateLimitedError) as err:
                if attempt >= self.max_retries:
                    raise
                delay = self._delay(attempt, err)
                attempt += 1
                await asyncio.sleep(delay)
                if isinstance(err, TransientError):  # outcome unknown: look before resending
                    try:
                        return await self._find(request.client_order_id, request.market)
                    except NotFoundError:
                        pass

    async def _exact_cost(self, ack: OrderAck) -> OrderAck:
        """A create filled over several prices: the venue's average is rounded to 6 decimals
        (2 @ 0.41 + 1 @ 0.42 averages "0.413333", x 3 = $1.239999 for $1.24 paid), so the cost
        is summed from the order's fills instead; if they cannot be had, the average stands."""
        try:
            return await self._with_fill_cost(ack)
        except (VenueError, WireError) as exc:
            log.warning("kalshi order %s: fills unavailable (%s); cost from the venue's "
                        "6-decimal average", ack.order_id, exc)
            return ack

    async def _find_after_create(self, request: OrderRequest, cause: WireError) -> OrderAck:
        """The order behind an unreadable create answer, by its client id.

        Not finding it, or not being able to read it either, leaves the outcome unknown: a
        :class:`TransientError`, which the executor journals as unknown and resolves by lookups
        (it is never read as "not placed").
        """
        try:
            return await self._find(request.client_order_id, request.market)
        except (VenueError, WireError) as exc:
            raise TransientError(
                "unreadable_answer",
                f"create {request.client_order_id} answered 201 but unreadably ({cause}); "
                f"lookup: {exc}",
            ) from None

    async def cancel_order(self, order_id: str, market: str | None = None) -> OrderAck:
        """Cancel ``order_id``, naming its market so the venue routes it to that shard.

        Without ``market_ticker`` the venue sends a cancel to shard 0 (SDK 3.34.0
        ``cancel_order_v2``: "If omitted, auto-routes when market_ticker is provided; otherwise
        defaults to 0"), where an order of a market on shard 1 is not found. The market comes
        from the caller, from this client's own creates and reads, or from one lookup.
        """
        ticker = market or self._order_markets.get(order_id)
        if ticker is None:
            ticker = (await self.get_order(order_id)).market
        try:
            await self._request(
                "DELETE", f"/portfolio/events/orders/{_quote(order_id)}",
                {"market_ticker": ticker},
            )
        except NotFoundError:
            # a retried cancel whose first attempt succeeded: the order exists, just not open
            current = await self.get_order(order_id)
            if current.status is OrderStatus.OPEN:
                raise
            return current
        return await self.get_order(order_id)

    async def get_order(
        self, order_id: str | None = None, *, client_order_id: str | None = None
    ) -> OrderAck:
        if order_id is not None:
            data = await self._request("GET", f"/portfolio/orders/{_quote(order_id)}")
            return self._read_order(data["order"])
        if client_order_id is None:
            raise ValueError("get_order needs order_id or client_order_id")
        return await self._find(client_order_id)

    def _read_order(self, raw: Mapping[str, Any]) -> OrderAck:
        ack = ack_from_order(raw)
        self._note_market(ack.order_id, ack.market)
        return ack

    async def _find(self, client_order_id: str, market: str | None = None) -> OrderAck:
        """Look an order up by client id (the venue has no direct endpoint for it).

        The match is made on the raw objects, so an order of ours the reader refuses raises
        :class:`WireError` instead of answering "not found" (which would read as not placed).
        """
        for raw in await self._raw_orders(market):
            if raw.get("client_order_id") == client_order_id:
                return await self._with_fill_cost(self._read_order(raw))
        raise NotFoundError("not_found", f"no order with client_order_id {client_order_id}", 404)

    async def _with_fill_cost(self, ack: OrderAck) -> OrderAck:
        """``ack`` with the exact cost of its fills, summed from ``/portfolio/fills?order_id``.

        An Order object carries its limit price, not what it filled at, and its
        ``*_fill_cost_dollars`` do not say in which outcome's terms they are; its fills do (each
        at its outcome's price, same direction as the order). Used where an order's outcome was
        unknown (lookups by client id), so the journal books what the order really cost. When
        the fills do not add up to ``filled`` yet, the ack is returned as it is.
        """
        if not ack.filled:
            return ack
        fills = await self.fills(order_id=ack.order_id)
        own = [f for f in fills if f.order_id == ack.order_id]
        if sum(f.size for f in own) != ack.filled:
            return ack
        cost = 0
        for f in own:  # each fill in the ack's terms: its own direction or the mirror of it
            if (f.outcome, f.action) == (ack.outcome, ack.action):
                cost += f.price * f.size
            elif f.outcome is not ack.outcome and f.action is not ack.action:
                cost += (PRICE_SCALE - f.price) * f.size
            else:
                return ack
        avg = cost // ack.filled if cost % ack.filled == 0 else None
        return replace(ack, fill_cost=Money(cost),
                       avg_fill_price=None if avg is None else Price(avg))

    async def _orders(
        self, market: str | None = None, status: str | None = None
    ) -> list[OrderAck]:
        return [self._read_order(o) for o in await self._raw_orders(market, status)]

    async def _raw_orders(
        self, market: str | None = None, status: str | None = None
    ) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        cursor = ""
        while True:
            params = {"limit": str(PAGE_LIMIT)}
            if market:
                params["ticker"] = market
            if status:
                params["status"] = status
            if cursor:
                params["cursor"] = cursor
            data = await self._request("GET", "/portfolio/orders", params)
            out.extend(data.get("orders") or [])
            cursor = data.get("cursor") or ""
            if not cursor:
                return out

    async def open_orders(self, market: str | None = None) -> list[OrderAck]:
        return await self._orders(market, "resting")

    async def fills(
        self, since_ms: int | None = None, *, order_id: str | None = None
    ) -> list[FillReport]:
        out: list[FillReport] = []
        cursor = ""
        while True:
            params = {"limit": str(PAGE_LIMIT)}
            if since_ms is not None:
                params["min_ts"] = str(since_ms // 1000)
            if order_id is not None:
                params["order_id"] = order_id
            if cursor:
                params["cursor"] = cursor
            data = await self._request("GET", "/portfolio/fills", params)
            out.extend(fill_from_wire(f) for f in data.get("fills") or [])
            cursor = data.get("cursor") or ""
            if not cursor:
                break
        if since_ms is not None:
            out = [f for f in out if f.ts_ms >= since_ms]
        return out

    async def positions(self) -> list[PositionReport]:
        out: list[PositionReport] = []
        cursor = ""
        while True:
            params = {"limit": str(PAGE_LIMIT)}
            if cursor:
                params["cursor"] = cursor
            data = await self._request("GET", "/portfolio/positions", params)
            for p in data.get("market_positions") or []:
                report = position_from_wire(p)
                if report is not None:
                    out.append(report)
            cursor = data.get("cursor") or ""
            if not cursor:
                return out

    async def balance(self) -> Money:
        """Available balance over every shard (the venue's top-level ``balance``)."""
        data = await self._request("GET", "/portfolio/balance")
        try:
            return balance_from_wire(data)
        except WireError as exc:
            raise TransientError("bad_answer", str(exc)) from None

    async def shard_balances(self) -> dict[int, Money]:
        """Available balance per exchange shard (``balance_breakdown``); collateral is per shard,
        so an order is only as good as the balance of its market's shard."""
        data = await self._request("GET", "/portfolio/balance")
        try:
            return shard_balances_from_wire(data)
        except WireError as exc:
            raise TransientError("bad_answer", str(exc)) from None


def _decode(method: str, path: str, status: int, text: str, retry_after: str | None) -> Any:
    """One answer → its JSON body, or the typed error it means (both transports use this)."""
    if status >= 400:
        raise error_from_response(status, text, retry_after)
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise TransientError("bad_json", f"{method} {path}: answer is not JSON", status) from None


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")
