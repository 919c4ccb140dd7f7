"""Async REST transport for the Polymarket CLOB (aiohttp): one pooled session, typed errors.

Everything here speaks wire shapes (dicts, :mod:`schemas` structs); turning them into the
venue-neutral :mod:`arbiter.venues.base` objects is :mod:`client`'s job. The L2 HMAC covers the
exact body bytes and the path *without* the query, so each call builds its body string once and
sends exactly that string.

Error mapping (venues.md §2.10): 401 → :class:`AuthError`, 404 → :class:`NotFoundError`,
429 → :class:`RateLimitedError`, other 4xx → :class:`RejectedError` (duplicate order hash →
:class:`DuplicateOrderError`), 5xx/timeouts/connection drops → :class:`TransientError`. An order
rejection that comes back as HTTP 200 with ``success: false`` raises the same way as a 400, since
the venue has been seen doing both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import msgspec

from arbiter.venues.base import (
    AuthError,
    DuplicateOrderError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    VenueError,
)
from arbiter.venues.polymarket.auth import (
    ApiCreds,
    CredentialsError,
    PolymarketCredentials,
    l1_headers,
    l2_headers,
)
from arbiter.venues.polymarket.constants import DEFAULT_REST_URL, END_CURSOR, FIRST_CURSOR
from arbiter.venues.polymarket.errors import code_of_prose
from arbiter.venues.polymarket.market_info import (
    ClobMarketError,
    ClobMarketInfo,
    parse_clob_market,
)
from arbiter.venues.polymarket.orders import SignedOrder
from arbiter.venues.polymarket.schemas import OrderBookSummary, PostOrderResponse

__all__ = ["PolymarketRest", "error_from_message"]

#: Order-placement codes (``errorMsg``) as the venue spells them.
ORDER_ERROR_CODES = (
    "INVALID_ORDER_MIN_TICK_SIZE",
    "INVALID_ORDER_MIN_SIZE",
    "INVALID_ORDER_DUPLICATED",
    "INVALID_ORDER_NOT_ENOUGH_BALANCE",
    "INVALID_ORDER_EXPIRATION",
    "INVALID_ORDER_ERROR",
    "INVALID_POST_ONLY_ORDER_TYPE",
    "INVALID_POST_ONLY_ORDER",
    "EXECUTION_ERROR",
    "ORDER_DELAYED",
    "DELAYING_ORDER_ERROR",
    "FOK_ORDER_NOT_FILLED_ERROR",
    "FAK_ORDER_NOT_FILLED_ERROR",
    "MARKET_NOT_READY",
    "ORDER_VERSION_MISMATCH",
)
_BOOK_DECODER = msgspec.json.Decoder(OrderBookSummary)
_BOOKS_DECODER = msgspec.json.Decoder(list[OrderBookSummary])


def _code_of(message: str) -> str:
    for code in ORDER_ERROR_CODES:  # a code spelled out (older answers, ``errorMsg``)
        if code in message:
            return code
    prose = code_of_prose(message)  # V2: the venue's sentence (errors.py)
    if prose is not None:
        return prose
    return message.split(":", 1)[0].strip().replace(" ", "_").upper()[:64] or "ERROR"


def error_from_message(status: int | None, message: str) -> VenueError:
    """The typed error for a venue answer; the venue's message travels along verbatim."""
    code = _code_of(message)
    if status == 401 or status == 403:
        return AuthError(code, message, status)
    if status == 429:
        return RateLimitedError(code, message, status)
    if status == 404:
        return NotFoundError(code, message, status)
    if status is not None and status >= 500:
        return TransientError(code, message, status)
    if code == "INVALID_ORDER_DUPLICATED":
        return DuplicateOrderError(code, message, status)
    return RejectedError(code, message, status)


class PolymarketRest:
    """REST calls of the CLOB. ``credentials`` are needed for L1/L2 calls only."""

    def __init__(
        self,
        base_url: str = DEFAULT_REST_URL,
        credentials: PolymarketCredentials | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __aenter__(self) -> PolymarketRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._own_session and not self._session.closed:
            await self._session.close()

    @property
    def api(self) -> ApiCreds:
        creds = self.credentials
        if creds is None or creds.api is None:
            raise CredentialsError("Polymarket API credentials are not set (derive them via L1)")
        return creds.api

    # -- transport --------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: str | None = None,
        auth: str = "none",
        nonce: int = 0,
    ) -> Any:
        """One call; returns the raw response bytes decoded as JSON (or text)."""
        raw = await self.request_raw(method, path, params=params, body=body, auth=auth, nonce=nonce)
        if not raw:
            return None
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return raw.decode(errors="replace")

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: str | None = None,
        auth: str = "none",
        nonce: int = 0,
    ) -> bytes:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth == "l2":
            api = self.api
            signer = self.credentials.signer if self.credentials else None
            if signer is None:  # pragma: no cover - ``api`` already checked credentials
                raise CredentialsError("a private key is needed for L2 calls")
            headers.update(l2_headers(signer.address, api, method, path, body))
        elif auth == "l1":
            creds = self.credentials
            if creds is None:
                raise CredentialsError("a private key is needed for L1 calls")
            headers.update(l1_headers(creds.signer, creds.chain_id, nonce))
        url = self.base_url + path
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})
        try:
            async with self._http().request(
                method, url, data=body.encode() if body is not None else None, headers=headers
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError("CONNECTION", f"{method} {path}: {exc!r}") from None
        if status != 200:
            raise error_from_message(status, _error_text(raw, status))
        return raw

    # -- public -----------------------------------------------------------------------------
    async def server_time(self) -> int:
        return int(await self.request("GET", "/time"))

    async def version(self) -> int:
        """Exchange generation (1 or 2); a venue without ``/version`` is v1."""
        try:
            data = await self.request("GET", "/version")
        except NotFoundError:
            return 1
        return int(data.get("version", 1)) if isinstance(data, dict) else 1

    async def book(self, token_id: str) -> OrderBookSummary:
        raw = await self.request_raw("GET", "/book", params={"token_id": token_id})
        return _BOOK_DECODER.decode(raw)

    async def books(self, token_ids: list[str]) -> list[OrderBookSummary]:
        body = json.dumps([{"token_id": t} for t in token_ids], separators=(",", ":"))
        return _BOOKS_DECODER.decode(await self.request_raw("POST", "/books", body=body))

    async def books_json(self, token_ids: list[str]) -> Any:
        """``POST /books`` decoded as plain JSON, for readers that must survive any body shape
        (the feed's resync: an older or foreign shape is refused per book, never raised)."""
        body = json.dumps([{"token_id": t} for t in token_ids], separators=(",", ":"))
        return msgspec.json.decode(await self.request_raw("POST", "/books", body=body))

    async def tick_size(self, token_id: str) -> str:
        data = await self.request("GET", "/tick-size", params={"token_id": token_id})
        return _tick_text(data["minimum_tick_size"])

    async def neg_risk(self, token_id: str) -> bool:
        data = await self.request("GET", "/neg-risk", params={"token_id": token_id})
        return bool(data["neg_risk"])

    async def fee_rate_bps(self, token_id: str) -> int:
        data = await self.request("GET", "/fee-rate", params={"token_id": token_id})
        return int(data.get("base_fee") or 0)

    async def markets_page(self, cursor: str = FIRST_CURSOR) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("GET", "/markets", params={"next_cursor": cursor})
        return data

    async def all_markets(self, max_pages: int = 1000) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = FIRST_CURSOR
        for _ in range(max_pages):
            page = await self.markets_page(cursor)
            out.extend(page.get("data") or [])
            cursor = page.get("next_cursor") or END_CURSOR
            if cursor == END_CURSOR:
                break
        return out

    async def market(self, condition_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("GET", f"/markets/{condition_id}")
        return data

    async def condition_of_token(self, token_id: str) -> str:
        """The market a token belongs to (docs ``/api-reference/markets/get-market-by-token``;
        ``polymarket-client`` 0.14.0 ``resolve_condition_by_token``)."""
        data = await self.request("GET", f"/markets-by-token/{token_id}")
        cid = data.get("condition_id") if isinstance(data, dict) else None
        if not isinstance(cid, str) or not cid.startswith("0x"):
            raise ClobMarketError(f"token {token_id}", f"markets-by-token answered {data!r}")
        return cid

    async def clob_market(self, condition_id: str) -> ClobMarketInfo:
        """Fee curve, minimum size, tick, neg-risk of one market (typed; see market_info)."""
        return parse_clob_market(
            await self.request("GET", f"/clob-markets/{condition_id}"), condition_id
        )

    # -- L1 ---------------------------------------------------------------------------------
    async def create_api_key(self, nonce: int = 0) -> ApiCreds:
        return _creds(await self.request("POST", "/auth/api-key", auth="l1", nonce=nonce))

    async def derive_api_key(self, nonce: int = 0) -> ApiCreds:
        return _creds(await self.request("GET", "/auth/derive-api-key", auth="l1", nonce=nonce))

    async def create_or_derive_api_key(self, nonce: int = 0) -> ApiCreds:
        """Derive first (no new key per start-up), create when the venue has none."""
        try:
            return await self.derive_api_key(nonce)
        except (RejectedError, NotFoundError):
            return await self.create_api_key(nonce)

    # -- L2 ---------------------------------------------------------------------------------
    async def post_order(self, signed: SignedOrder) -> PostOrderResponse:
        body = signed.serialize(self.api.api_key)
        raw = await self.request_raw("POST", "/order", body=body, auth="l2")
        resp = msgspec.json.decode(raw, type=PostOrderResponse)
        if not resp.success:
            raise error_from_message(400, resp.errorMsg or "order not accepted")
        return resp

    async def cancel(self, order_id: str) -> dict[str, Any]:
        body = json.dumps({"orderID": order_id}, separators=(",", ":"))
        data: dict[str, Any] = await self.request("DELETE", "/order", body=body, auth="l2")
        return data

    async def cancel_many(self, order_ids: list[str]) -> dict[str, Any]:
        body = json.dumps(order_ids, separators=(",", ":"))
        data: dict[str, Any] = await self.request("DELETE", "/orders", body=body, auth="l2")
        return data

    async def cancel_all(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("DELETE", "/cancel-all", auth="l2")
        return data

    async def order(self, order_id: str) -> dict[str, Any]:
        data = await self.request("GET", f"/data/order/{order_id}", auth="l2")
        if not isinstance(data, dict) or not data:
            raise NotFoundError("ORDER_NOT_FOUND", f"order {order_id} is unknown", 404)
        return data

    async def _paged(self, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = FIRST_CURSOR
        while cursor != END_CURSOR:
            page = await self.request(
                "GET", path, params={**params, "next_cursor": cursor}, auth="l2"
            )
            out.extend(page.get("data") or [])
            cursor = page.get("next_cursor") or END_CURSOR
        return out

    async def open_orders(
        self, market: str = "", asset_id: str = "", order_id: str = ""
    ) -> list[dict[str, Any]]:
        return await self._paged(
            "/data/orders", {"market": market, "asset_id": asset_id, "id": order_id}
        )

    async def trades(self, market: str = "", asset_id: str = "", after: int | None = None) -> list[
        dict[str, Any]
    ]:
        params = {"market": market, "asset_id": asset_id}
        if after is not None:
            params["after"] = str(after)
        return await self._paged("/data/trades", params)

    def _balance_params(self, asset_type: str, token_id: str,
                        signature_type: int | None) -> dict[str, str]:
        """The query of both balance-allowance routes (the key's signature type by default)."""
        sig = signature_type
        if sig is None and self.credentials is not None:
            sig = self.credentials.signature_type
        params = {"asset_type": asset_type, "token_id": token_id}
        if sig is not None:
            params["signature_type"] = str(sig)
        return params

    async def balance_allowance(
        self, asset_type: str = "COLLATERAL", token_id: str = "", signature_type: int | None = None
    ) -> dict[str, Any]:
        params = self._balance_params(asset_type, token_id, signature_type)
        data: dict[str, Any] = await self.request(
            "GET", "/balance-allowance", params=params, auth="l2"
        )
        return data

    async def update_balance_allowance(
        self, asset_type: str = "COLLATERAL", token_id: str = "", signature_type: int | None = None
    ) -> None:
        """``GET /balance-allowance/update``: make the venue re-read a funded balance.

        A side-effect call whose body is not used (``polymarket-client`` 0.14.0
        ``orders/place.py`` ``_refresh_balance_allowance``; venues.md §0.1).
        """
        params = self._balance_params(asset_type, token_id, signature_type)
        await self.request_raw("GET", "/balance-allowance/update", params=params, auth="l2")


def _error_text(raw: bytes, status: int) -> str:
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        text = raw.decode(errors="replace").strip()
        return text[:300] or f"HTTP {status}"
    if isinstance(data, dict):
        for key in ("error", "errorMsg", "message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    return str(data)[:300]


def _tick_text(value: Any) -> str:
    """``0.01`` (a JSON number) and ``"0.01"`` both to the canonical tick string."""
    return repr(value) if isinstance(value, float) else str(value)


def _creds(data: Any) -> ApiCreds:
    try:
        return ApiCreds(str(data["apiKey"]), str(data["secret"]), str(data["passphrase"]))
    except (KeyError, TypeError):
        raise AuthError("BAD_CREDENTIALS_ANSWER", f"unexpected answer {data!r}") from None
