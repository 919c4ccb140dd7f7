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
from typing import Any, Final

import aiohttp
import msgspec

from arbiter.core.fees import KalshiFeeError
from arbiter.core.price_grid import PriceGrid
from arbiter.core.units import Money
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
    RejectedError,
    TransientError,
    VenueError,
)
from arbiter.venues.kalshi.config import KalshiConfig, load_signer
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
)
from arbiter.venues.orderlane import LaneBroken, LaneResponse, OrderLane

__all__ = ["KalshiRestClient", "error_from_response"]

log = logging.getLogger(__name__)

PAGE_LIMIT: Final = 1000
#: the order-create endpoint (relative to the API base)
CREATE_PATH: Final = "/portfolio/events/orders"


def error_from_response(status: int, body: str, retry_after: str | None = None) -> VenueError:
    """Map an error answer to a typed error, reading every body shape seen in the wild (§1.9)."""
    code, message = f"http_{status}", body[:200]
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        inner = data.get("error", data)
        if isinstance(inner, Mapping):
            code = str(inner.get("code") or code)
            message = str(inner.get("message") or inner.get("details") or "")
            details = inner.get("details")
            if details and details != message:
                message = f"{message} ({details})" if message else str(details)
        elif isinstance(inner, str):
            message = inner
            if status == 429:
                code = "too_many_requests"
    elif isinstance(data, str):
        message = data
    if status in (401, 403):
        return AuthError(code, message, status)
    if status == 404:
        return NotFoundError(code, message, status)
    if status == 409:
        return DuplicateOrderError(code, message, status)
    if status == 429:
        after = float(retry_after) if retry_after and retry_after.isdigit() else None
        return RateLimitedError(code, message, status, retry_after=after)
    if status >= 500:
        return TransientError(code, message, status)
    return RejectedError(code, message, status)


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
            out.extend(market_from_wire(m) for m in data.get("markets") or [])
            cursor = data.get("cursor") or ""
            if not cursor or len(out) >= limit:
                return out[:limit]

    async def market(self, ticker: str) -> KalshiMarket:
        data = await self._request("GET", f"/markets/{_quote(ticker)}", auth=False)
        return market_from_wire(data["market"])

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

        Raises :class:`~arbiter.core.fees.KalshiFeeError` for a schedule we cannot price.
        """
        data = await self._request("GET", f"/markets/{_quote(market_ticker)}", auth=False)
        market = data.get("market") if isinstance(data, Mapping) else None
        event_ticker = market.get("event_ticker") if isinstance(market, Mapping) else None
        if not isinstance(event_ticker, str) or not event_ticker:
            raise KalshiFeeError(f"market {market_ticker}: the answer names no event_ticker")
        event = await self._request("GET", f"/events/{_quote(event_ticker)}", auth=False)
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
                return ack_from_create(request, data)
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

    async def cancel_order(self, order_id: str) -> OrderAck:
        try:
            await self._request("DELETE", f"/portfolio/events/orders/{_quote(order_id)}")
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
            return ack_from_order(data["order"])
        if client_order_id is None:
            raise ValueError("get_order needs order_id or client_order_id")
        return await self._find(client_order_id)

    async def _find(self, client_order_id: str, market: str | None = None) -> OrderAck:
        """Look an order up by client id (the venue has no direct endpoint for it)."""
        for order in await self._orders(market):
            if order.client_order_id == client_order_id:
                return order
        raise NotFoundError("not_found", f"no order with client_order_id {client_order_id}", 404)

    async def _orders(
        self, market: str | None = None, status: str | None = None
    ) -> list[OrderAck]:
        out: list[OrderAck] = []
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
            out.extend(ack_from_order(o) for o in data.get("orders") or [])
            cursor = data.get("cursor") or ""
            if not cursor:
                return out

    async def open_orders(self, market: str | None = None) -> list[OrderAck]:
        return await self._orders(market, "resting")

    async def fills(self, since_ms: int | None = None) -> list[FillReport]:
        out: list[FillReport] = []
        cursor = ""
        while True:
            params = {"limit": str(PAGE_LIMIT)}
            if since_ms is not None:
                params["min_ts"] = str(since_ms // 1000)
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
        data = await self._request("GET", "/portfolio/balance")
        try:
            return balance_from_wire(data)
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
