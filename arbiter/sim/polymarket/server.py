"""The local Polymarket: the CLOB's REST paths and market/user WebSockets on aiohttp.

A thin shell around :class:`~arbiter.sim.polymarket.exchange.Exchange`: handlers authenticate
(L1 ClobAuth recovery, L2 HMAC over the *received* bytes and the path without query, exactly
like the venue), parse, call the exchange and serialize. Answers follow the shapes the official
SDK reads (venues.md §3.2): HTTP 200 for every success, ``{"error": ...}`` bodies otherwise,
``next_cursor: "LTE="`` on last pages, ``/time`` as a bare integer, ``/version`` → 1.

Each WebSocket connection has its own send queue and writer task, which is where fault
injection (drop / duplicate / reorder / latency / disconnect, from the shared
:class:`~arbiter.sim.common.FaultSwitches`) is applied, so every subscriber sees a consistent
per-connection story that a test can reproduce from the seed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from arbiter.core.matching import TimeInForce
from arbiter.core.units import (
    ONE_CONTRACT,
    PRICE_SCALE,
    UnitError,
    format_decimal,
    parse_money,
    parse_size,
    parse_tick,
    price_str,
    size_str,
)
from arbiter.sim.catalogue import GammaCatalogue, gamma_event_of
from arbiter.sim.common import (
    ADMIN_PREFIX,
    BadInput,
    FaultSwitches,
    MakerQuote,
    RandomWalk,
    ScenarioSpec,
    SimConfigError,
    admin_authorized,
    admin_headers,
    diff_quotes,
    new_admin_token,
    parse_json,
    write_batch,
)
from arbiter.sim.common import maker_quotes as common_maker_quotes
from arbiter.sim.polymarket.exchange import Exchange, SimMarket, SimOrder, SimReject
from arbiter.venues.polymarket.constants import END_CURSOR
from arbiter.venues.polymarket.schemas import PostOrderBody
from arbiter.venues.polymarket.signing import (
    SignatureError,
    checksum,
    clob_auth_digest,
    hmac_signature,
    recover_signer,
)

__all__ = ["PolymarketSim"]

log = logging.getLogger(__name__)

_UNAUTHORIZED = "Unauthorized/Invalid api key"
_BAD_L1 = "Invalid L1 Request headers"
_PAGE = 500
#: (method, path prefix, requests per 10 s) as the venue documents them (venues.md §2.9); the
#: first matching rule applies, and every request also counts against the general limit.
RATE_RULES: tuple[tuple[str, str, int], ...] = (
    ("POST", "/order", 3_500),
    ("DELETE", "/order", 3_000),
    ("POST", "/orders", 1_000),
    ("GET", "/book", 1_500),
    ("GET", "/price", 1_500),
    ("GET", "/midpoint", 1_500),
    ("POST", "/books", 500),
    ("POST", "/prices", 500),
    ("POST", "/midpoints", 500),
    ("GET", "/data/orders", 500),
    ("GET", "/data/trades", 500),
    ("*", "/auth/", 100),
)
GENERAL_LIMIT = 9_000
BOOKS_LIMIT = 100
#: frames one ``firehose`` test control may ask for (the feed benchmark sends 200,000)
MAX_FIREHOSE = 2_000_000
_WINDOW_NS = 10 * 1_000_000_000
#: sent only to subscriptions with ``custom_feature_enabled`` (docs
#: ``/market-data/websocket/market-channel``)
_BOOK_KEYS_2024 = ("market", "asset_id", "bids", "asks", "hash", "timestamp")
_CUSTOM_EVENTS = frozenset({"best_bid_ask", "new_market", "market_resolved"})
_POST_BODY = msgspec.json.Decoder(PostOrderBody)
_POST_BODIES = msgspec.json.Decoder(list[PostOrderBody])


#: Decimals go out as JSON numbers (``0.01``), as the venue sends ticks and prices in listings.
_ENCODER = msgspec.json.Encoder(decimal_format="number")
#: docs.polymarket.com ``/resources/error-codes``: a malformed body (POST books, prices, ...)
_INVALID_PAYLOAD = "Invalid payload"
#: the same page, POST order: an order body the venue cannot read
_INVALID_ORDER = "Invalid order payload"
#: a hostile value a handler did not check for itself: still a refused request, never a 500
_INPUT_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError,
                 RecursionError, ZeroDivisionError)
#: the market channel's answer to an operation it cannot perform on a subscribed connection
#: (observed live: nautechsystems/nautilus_trader PR 3717, a second initial subscription)
WS_INVALID_OPERATION = "INVALID OPERATION"
#: the close the venue makes when a connection's first message is not a subscription
#: (observed live: nautechsystems/nautilus_trader issue 4864: ``code=1008 reason="invalid
#: subscription payload"``)
WS_INVALID_SUBSCRIPTION = (1008, "invalid subscription payload")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_ENCODER.encode(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    #: the connection's socket, for batch writes (:func:`arbiter.sim.common.write_batch`)
    transport: asyncio.Transport | None = None
    queue: asyncio.Queue[list[bytes] | None] = field(default_factory=asyncio.Queue)
    assets: set[str] = field(default_factory=set)
    api_key: str | None = None
    markets: set[str] = field(default_factory=set)
    #: ``custom_feature_enabled``: best_bid_ask, new_market, market_resolved are sent
    custom: bool = False
    #: fault: tokens this subscription silently stopped delivering (until resubscribed)
    stalled: set[str] = field(default_factory=set)


@dataclass
class _Maker:
    """A seeded liquidity maker quoting one market's YES axis (bids as BUY YES, asks as BUY NO)."""

    market: SimMarket
    walk: RandomWalk
    address: str
    n: int = 0


class PolymarketSim:
    def __init__(
        self,
        exchange: Exchange,
        *,
        scenario: ScenarioSpec | None = None,
        faults: FaultSwitches | None = None,
        seed: int = 0,
        clock_ns: Callable[[], int] = time.time_ns,
        reject_status: int = 400,
        step_ms: int | None = None,
        rate_limit_scale: float | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.exchange = exchange
        #: the ``X-Sim-Admin-Token`` every ``/_sim/...`` request must carry; a random one when
        #: the caller named none (the controls are then locked to whoever holds this object)
        self.admin_token = admin_token or new_admin_token()
        self.stats = {"bad_input": 0, "unhandled_input": 0, "ws_bad_frames": 0,
                      "admin_refused": 0}
        self._logged_kinds: set[tuple[str, str]] = set()
        self.scenario = scenario
        self.faults = faults or FaultSwitches(seed=seed)
        self.seed = seed
        self.clock = clock_ns
        self.reject_status = reject_status
        self.step_ms = step_ms if step_ms is not None else (scenario.step_ms if scenario else 500)
        #: None: no throttling; else the documented limits times this factor (tests use tiny ones)
        self.rate_limit_scale = rate_limit_scale
        self._windows: dict[str, deque[int]] = {}
        self.market_conns: set[_Conn] = set()
        self.user_conns: set[_Conn] = set()
        self.makers: list[_Maker] = []
        self.steps_done = 0
        #: fault: the next N accepted ``POST /order`` answer 503 *after* the order was applied
        #: (a lost response: the case client idempotency exists for)
        self.lose_order_responses = 0
        #: ``POST /books`` answers 400 "Payload exceeds the limit" above this many tokens: the
        #: venue's limit is unpublished (venues.md §0.1), so the default is a guess on the low side
        self.books_limit: int | None = BOOKS_LIMIT
        #: "current" (all ten keys) or "2024": the six keys of the 2024-10 capture NautilusTrader
        #: publishes (``resources/http_responses/book.json``), no tick_size / min_order_size
        self.books_shape = "current"
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.host = "127.0.0.1"
        exchange.on_market = self._broadcast_market
        exchange.on_user = self._broadcast_user
        #: real Gamma bodies served by ``/gamma/events`` / ``/gamma/markets`` besides the traded
        #: markets (the local venue's Gamma base URL is ``<url>/gamma``)
        self.gamma = GammaCatalogue()
        self.app = self._build_app()

    # -- lifecycle --------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_mw], client_max_size=4 * 1024 * 1024)
        r = app.router
        r.add_get("/", self._ok)
        r.add_get("/ok", self._ok)
        r.add_get("/time", self._time)
        r.add_get("/version", self._version)
        r.add_get("/book", self._book)
        r.add_post("/books", self._books)
        r.add_get("/price", self._price)
        r.add_post("/prices", self._prices)
        r.add_get("/midpoint", self._midpoint)
        r.add_get("/spread", self._spread)
        r.add_get("/last-trade-price", self._last_trade_price)
        r.add_get("/tick-size", self._tick_size)
        r.add_get("/neg-risk", self._neg_risk)
        r.add_get("/fee-rate", self._fee_rate)
        r.add_get("/markets", self._markets)
        r.add_get("/gamma/events", self._gamma_events)
        r.add_get("/gamma/markets", self._gamma_markets)
        r.add_get("/markets/{condition_id}", self._market)
        r.add_get("/markets-by-token/{token_id}", self._market_by_token)
        r.add_get("/clob-markets/{condition_id}", self._clob_market)
        r.add_post("/auth/api-key", self._create_key)
        r.add_get("/auth/derive-api-key", self._derive_key)
        r.add_get("/auth/api-keys", self._list_keys)
        r.add_delete("/auth/api-key", self._delete_key)
        r.add_post("/order", self._post_order)
        r.add_post("/orders", self._post_orders)
        r.add_delete("/order", self._cancel)
        r.add_delete("/orders", self._cancel_many)
        r.add_delete("/cancel-all", self._cancel_all)
        r.add_delete("/cancel-market-orders", self._cancel_market)
        r.add_get("/data/orders", self._open_orders)
        r.add_get("/data/order/{order_id}", self._one_order)
        r.add_get("/data/trades", self._trades)
        r.add_get("/balance-allowance", self._balance)
        r.add_get("/balance-allowance/update", self._balance_update)
        r.add_get("/deployed", self._deployed)
        r.add_get("/ws/market", self._ws_market)
        r.add_get("/ws/user", self._ws_user)
        r.add_post("/_sim/faults", self._admin_faults)
        r.add_post("/_sim/tick", self._admin_tick)
        r.add_post("/_sim/mode", self._admin_mode)
        r.add_post("/_sim/fund", self._admin_fund)
        r.add_post("/_sim/market-feed", self._admin_market_feed)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.host = host
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        if self.scenario is not None:
            self._setup_makers(self.scenario)
            self.step_makers()
        self._tasks.append(asyncio.create_task(self._ticker()))
        return self.port

    def admin_headers(self) -> dict[str, str]:
        """Headers for a ``/_sim/...`` test-control call (the admin token)."""
        return admin_headers(self.admin_token)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for conn in [*self.market_conns, *self.user_conns]:
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> PolymarketSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- makers -----------------------------------------------------------------------------
    def _setup_makers(self, spec: ScenarioSpec) -> None:
        by_key = {m.key: m for m in self.exchange.markets.values()}
        for sm in spec.markets:
            market = by_key.get(sm.key)
            if market is None:
                continue
            address = checksum("0x" + hashlib.sha256(f"maker:{sm.key}".encode()).hexdigest()[:40])
            self.exchange.fund(address, collateral=10**9 * 10**10)
            self.makers.append(_Maker(market, RandomWalk(sm, self.seed, "polymarket"), address))

    def step_makers(self) -> None:
        """One random-walk step of every maker: cancel stale levels, place missing ones."""
        now = self.clock()
        for maker in self.makers:
            if maker.market.winner is not None:
                continue  # resolved: nobody quotes it any more
            mid = maker.walk.step() if self.steps_done else maker.walk.mid
            spec = maker.walk.market
            quotes = [
                q for q in common_maker_quotes(spec, mid) if q.price % maker.market.tick == 0
            ]
            engine = maker.market.engine
            current: dict[tuple[bool, int], int] = {}
            ids: dict[tuple[bool, int], list[str]] = {}
            for order in engine.open_orders(maker.address):
                key = (order.side.value == "buy", order.price)
                current[key] = current.get(key, 0) + order.remaining
                ids.setdefault(key, []).append(order.order_id)
            cancels, places = diff_quotes(current, quotes)
            for key in cancels:
                self.exchange.cancel(None, ids.get(key, []), now)
            for quote in places:
                self._place_maker(maker, quote, now)
        self.steps_done += 1

    def _place_maker(self, maker: _Maker, quote: MakerQuote, now: int) -> None:
        market = maker.market
        maker.n += 1
        if quote.is_bid:
            token, price = market.yes_token, quote.price
        else:  # an ask on the YES axis, placed as a BUY of NO (mint) at 1 - p
            token, price = market.no_token, PRICE_SCALE - quote.price
        order = SimOrder(
            id=f"maker-{market.key}-{maker.n}",
            owner=f"maker:{market.key}",
            maker=maker.address,
            signer=maker.address,
            market=market,
            token=token,
            side="BUY",
            price=price,
            size=quote.size - quote.size % 10_000,
            order_type="GTC",
            created_at=now // 1_000_000_000,
        )
        self.exchange.submit(order, TimeInForce.GTC, False, now)

    async def _ticker(self) -> None:
        spec = self.scenario
        while True:
            await asyncio.sleep(self.step_ms / 1000)
            now = self.clock()
            self.exchange.expire(now)
            self.exchange.release_delayed(now)
            if spec is not None and (not spec.steps or self.steps_done < spec.steps):
                moving = any(m.walk.market.volatility_ticks or m.walk.market.mispricing_every
                             for m in self.makers)
                if moving:
                    self.step_makers()

    # -- middleware & auth ------------------------------------------------------------------
    @web.middleware
    async def _faults_mw(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith(ADMIN_PREFIX):
            if not admin_authorized(request.headers, self.admin_token):
                self.stats["admin_refused"] += 1
                return _error(401, "the local venue's test controls need the X-Sim-Admin-Token "
                                   "header")
        elif not path.startswith("/ws/"):
            if self.rate_limit_scale is not None and not self._admit(request):
                return _error(429, "Too Many Requests")
            await self.faults.delay()
            status = self.faults.take_http_fault(request.method)
            if status is not None:
                return _error(status, "injected fault" if status != 429 else "Too Many Requests")
        return await self._guarded(request, handler)

    async def _guarded(self, request: web.Request, handler: Callable[[web.Request], Any]
                       ) -> web.StreamResponse:
        """Run a handler; every refusal leaves as ``{"error": "<message>"}`` (docs
        ``/resources/error-codes``: "All CLOB API errors return a JSON object with a single
        error field"), never as a 500. What a handler did not check is refused as
        ``Invalid payload``, counted in ``stats["unhandled_input"]`` and logged once per route
        and kind, so the fuzz bench (``bench/sim_fuzz.py``) shows where a check is missing."""
        try:
            response: web.StreamResponse = await handler(request)
        except SimReject as exc:
            return self._reject(exc)
        except BadInput:
            self.stats["bad_input"] += 1
            return _error(400, _INVALID_PAYLOAD)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.status >= 500:
                raise
            return _error(exc.status, exc.reason)
        except _INPUT_ERRORS as exc:
            self.stats["unhandled_input"] += 1
            resource = request.match_info.route.resource
            kind = (resource.canonical if resource else request.path, type(exc).__name__)
            if kind not in self._logged_kinds:
                self._logged_kinds.add(kind)
                log.warning("local Polymarket: unchecked bad input on %s: %s", *kind)
            return _error(400, _INVALID_PAYLOAD)
        return response

    def _admit(self, request: web.Request) -> bool:
        """Sliding 10-second windows per client address: the rule's and the general one."""
        scale = self.rate_limit_scale or 0.0
        peer = request.remote or "?"
        rule = next(
            (r for r in RATE_RULES
             if r[0] in ("*", request.method) and (request.path == r[1] or (
                 r[1].endswith("/") and request.path.startswith(r[1])))),
            None,
        )
        now = self.clock()
        checks = [(f"{peer}:*", max(1, int(GENERAL_LIMIT * scale)))]
        if rule is not None:
            checks.append((f"{peer}:{rule[0]} {rule[1]}", max(1, int(rule[2] * scale))))
        windows = []
        for key, limit in checks:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - _WINDOW_NS:
                window.popleft()
            if len(window) >= limit:
                return False
            windows.append(window)
        for window in windows:
            window.append(now)
        return True

    def _reject(self, exc: SimReject) -> web.Response:
        if exc.code and self.reject_status == 200:
            return _json({"success": False, "errorMsg": exc.message, "orderID": "",
                          "status": "", "makingAmount": "", "takingAmount": ""})
        return _error(exc.status, exc.message)

    def _fresh(self, ts: str) -> bool:
        try:
            value = int(ts)
        except ValueError:
            return False
        return abs(self.clock() // 1_000_000_000 - value) <= self.exchange.auth_window_s

    def _l1(self, request: web.Request) -> tuple[str, int]:
        h = request.headers
        address, sig, ts = h.get("POLY_ADDRESS"), h.get("POLY_SIGNATURE"), h.get("POLY_TIMESTAMP")
        nonce_text = h.get("POLY_NONCE", "0")
        if not (address and sig and ts) or not self._fresh(ts):
            raise SimReject(401, _BAD_L1)
        try:
            nonce = int(nonce_text)
            digest = clob_auth_digest(address, ts, nonce, self.exchange.chain_id)
            signer = recover_signer(digest, sig)
            claimed = checksum(address)
        except (ValueError, SignatureError):
            raise SimReject(401, _BAD_L1) from None
        if signer != claimed:
            raise SimReject(401, _BAD_L1)
        return claimed, nonce

    async def _l2(self, request: web.Request) -> tuple[str, str]:
        """(api key, raw body) after the five-header HMAC check; 401 on any mismatch."""
        h = request.headers
        values = [h.get(k) for k in ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP",
                                      "POLY_API_KEY", "POLY_PASSPHRASE")]
        raw = (await request.read()).decode("utf-8", errors="replace")
        address, sig, ts, key, passphrase = values
        if not all(values):
            raise SimReject(401, _UNAUTHORIZED)
        assert address and sig and ts and key and passphrase
        record = self.exchange.keys.get(key)
        if record is None or record.creds.passphrase != passphrase or not self._fresh(ts):
            raise SimReject(401, _UNAUTHORIZED)
        try:
            if checksum(address) != record.address:
                raise SimReject(401, _UNAUTHORIZED)
        except SignatureError:
            raise SimReject(401, _UNAUTHORIZED) from None
        expected = hmac_signature(
            record.creds.secret, ts, request.method, request.rel_url.raw_path, raw or None
        )
        if not _consteq(expected, sig):
            raise SimReject(401, _UNAUTHORIZED)
        return key, raw

    # -- helpers ----------------------------------------------------------------------------
    def _token(self, request: web.Request) -> tuple[SimMarket, str]:
        token = request.query.get("token_id", "")
        return self._token_of(token)

    def _token_of(self, token: str) -> tuple[SimMarket, str]:
        if not token or not token.isdigit():
            raise SimReject(400, "Invalid token id")
        market = self.exchange.tokens.get(token)
        if market is None:
            raise SimReject(404, "No orderbook exists for the requested token id")
        return market, token

    # -- public handlers --------------------------------------------------------------------
    async def _ok(self, request: web.Request) -> web.Response:
        return _json("OK")

    async def _time(self, request: web.Request) -> web.Response:
        return _json(self.clock() // 1_000_000_000)

    async def _version(self, request: web.Request) -> web.Response:
        return _json({"version": self.exchange.version})

    async def _book(self, request: web.Request) -> web.Response:
        market, token = self._token(request)
        return _json(self.exchange.book_json(market, token, self.clock()))

    async def _books(self, request: web.Request) -> web.Response:
        try:
            items = parse_json(await request.read())
            if not isinstance(items, list):
                raise BadInput("a list of {token_id} objects")
            tokens = [_text(i["token_id"]) for i in items]
        except (BadInput, TypeError, KeyError):
            return _error(400, _INVALID_PAYLOAD)
        if self.books_limit is not None and len(tokens) > self.books_limit:
            return _error(400, "Payload exceeds the limit")
        now = self.clock()
        out = []
        for token in tokens:
            market = self.exchange.tokens.get(token)
            if market is not None:
                book = self.exchange.book_json(market, token, now)
                if self.books_shape == "2024":
                    book = {k: book[k] for k in _BOOK_KEYS_2024}
                out.append(book)
        return _json(out)

    async def _price(self, request: web.Request) -> web.Response:
        market, token = self._token(request)
        side = request.query.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            raise SimReject(400, "Invalid side")
        bid, ask = market.top(token)
        # BUY side = the price a buyer pays = best ask (as the venue's /price answers)
        value = ask if side == "BUY" else bid
        return _json({"price": _p(value)})

    async def _prices(self, request: web.Request) -> web.Response:
        """``POST /prices``: ``[{"token_id", "side"}]`` → ``{token: {side: price}}``.

        What ``py-clob-client-v2`` 1.2.1 ``get_prices`` and ``polymarket-client`` 0.14.0
        ``get_prices`` send and parse (``_clob_actions.parse_prices``: a map of token to a map of
        side to price); errors as docs.polymarket.com ``/resources/error-codes`` (POST prices).
        """
        try:
            items = parse_json(await request.read())
            if not isinstance(items, list):
                raise BadInput("a list of {token_id, side} objects")
            pairs = [(_text(i["token_id"]), _text(i["side"]).upper()) for i in items]
        except (BadInput, TypeError, KeyError):
            return _error(400, _INVALID_PAYLOAD)
        out: dict[str, dict[str, str]] = {}
        for token, side in pairs:
            if side not in ("BUY", "SELL"):
                return _error(400, "Invalid side")
            market = self.exchange.tokens.get(token)
            if market is None:
                continue
            bid, ask = market.top(token)
            out.setdefault(token, {})[side] = _p(ask if side == "BUY" else bid)
        return _json(out)

    async def _midpoint(self, request: web.Request) -> web.Response:
        market, token = self._token(request)
        bid, ask = market.top(token)
        if bid is None or ask is None:
            return _error(404, "No orderbook exists for the requested token id")
        return _json({"mid": _p2(bid + ask)})

    async def _spread(self, request: web.Request) -> web.Response:
        market, token = self._token(request)
        bid, ask = market.top(token)
        if bid is None or ask is None:
            return _json({"spread": "0"})
        return _json({"spread": _p(ask - bid)})

    async def _last_trade_price(self, request: web.Request) -> web.Response:
        market, token = self._token(request)
        last = market.last_trade
        price = market.token_price(token, last) if last is not None else 5000
        return _json({"price": _p(price), "side": ""})

    async def _tick_size(self, request: web.Request) -> web.Response:
        market, _ = self._token(request)
        return _json({"minimum_tick_size": Decimal(market.tick_text)})

    async def _neg_risk(self, request: web.Request) -> web.Response:
        market, _ = self._token(request)
        return _json({"neg_risk": market.neg_risk})

    async def _fee_rate(self, request: web.Request) -> web.Response:
        market, _ = self._token(request)
        return _json({"base_fee": market.fee_bps})

    def _gamma_live(self) -> list[dict[str, Any]]:
        return [gamma_event_of(self.exchange.market_json(m))
                for m in self.exchange.markets.values()]

    async def _gamma_events(self, request: web.Request) -> web.Response:
        """Gamma ``GET /events`` (arbiter.sim.catalogue): loaded catalogue, then traded markets."""
        return _json(self.gamma.events_page(request.query, self._gamma_live()))

    async def _gamma_markets(self, request: web.Request) -> web.Response:
        """Gamma ``GET /markets``: every market of those events, its event nested."""
        return _json(self.gamma.markets_page(request.query, self._gamma_live()))

    async def _markets(self, request: web.Request) -> web.Response:
        cursor = request.query.get("next_cursor", "MA==")
        try:
            start = 0 if cursor in ("", "MA==") else int(base64.b64decode(cursor).decode())
        except ValueError:
            return _error(400, "invalid next_cursor")
        markets = list(self.exchange.markets.values())
        page = markets[start : start + _PAGE]
        end = start + len(page)
        next_cursor = END_CURSOR if end >= len(markets) else base64.b64encode(
            str(end).encode()
        ).decode()
        data = [self.exchange.market_json(m) for m in page]
        return _json({"data": data, "next_cursor": next_cursor, "limit": _PAGE,
                      "count": len(data)})

    async def _market(self, request: web.Request) -> web.Response:
        market = self.exchange.markets.get(request.match_info["condition_id"])
        if market is None:
            return _error(404, "market not found")
        return _json(self.exchange.market_json(market))

    async def _market_by_token(self, request: web.Request) -> web.Response:
        """``GET /markets-by-token/{token_id}``: the parent market of a token.

        Shape from docs.polymarket.com ``/api-reference/markets/get-market-by-token``
        (``condition_id``, ``primary_token_id`` = Yes, ``secondary_token_id`` = No); read by
        ``polymarket-client`` 0.14.0 (``market_data.resolve_condition_by_token``) and
        ``py-clob-client-v2`` 1.2.1 (``__ensure_market_info_cached``) before signing.
        """
        market = self.exchange.tokens.get(request.match_info["token_id"])
        if market is None:
            return _error(404, "market not found")
        return _json({"condition_id": market.condition_id,
                      "primary_token_id": market.yes_token,
                      "secondary_token_id": market.no_token})

    async def _clob_market(self, request: web.Request) -> web.Response:
        market = self.exchange.markets.get(request.match_info["condition_id"])
        if market is None:
            return _error(404, "market not found")
        # docs /api-reference/markets/get-clob-market-info: numbers, not strings (mos 5,
        # mts 0.01, fd {"r": 0.02, "e": 2, "to": true}); mbf/tbf are the legacy base fees
        return _json({
            "t": [{"t": market.yes_token, "o": "Yes"}, {"t": market.no_token, "o": "No"}],
            "mos": Decimal(format_decimal(market.min_order_size, 6)),
            "mts": Decimal(market.tick_text),
            "mbf": 0,
            "tbf": market.fee_bps,
            "nr": market.neg_risk,
            "fd": {"r": Decimal(market.fee.rate_text), "e": market.fee.exponent, "to": True},
        })

    # -- L1 -----------------------------------------------------------------------------------
    async def _create_key(self, request: web.Request) -> web.Response:
        address, nonce = self._l1(request)
        creds = self.exchange.create_api_key(address, nonce)
        return _json({"apiKey": creds.api_key, "secret": creds.secret,
                      "passphrase": creds.passphrase})

    async def _derive_key(self, request: web.Request) -> web.Response:
        address, nonce = self._l1(request)
        creds = self.exchange.derive_api_key(address, nonce)
        return _json({"apiKey": creds.api_key, "secret": creds.secret,
                      "passphrase": creds.passphrase})

    async def _list_keys(self, request: web.Request) -> web.Response:
        key, _ = await self._l2(request)
        address = self.exchange.keys[key].address
        keys = [k for k, r in self.exchange.keys.items() if r.address == address]
        return _json({"apiKeys": keys})

    async def _delete_key(self, request: web.Request) -> web.Response:
        key, _ = await self._l2(request)
        self.exchange.delete_api_key(key)
        return _json("OK")

    # -- orders -------------------------------------------------------------------------------
    async def _post_order(self, request: web.Request) -> web.Response:
        key, raw = await self._l2(request)
        try:
            body = _POST_BODY.decode(raw)
        except (msgspec.MsgspecError, RecursionError):
            raise SimReject(400, _INVALID_ORDER) from None
        answer = self._submit(body, key)
        if answer["status"] == "delayed":
            self._release_later(body.order.tokenId)
        if self.lose_order_responses > 0:
            self.lose_order_responses -= 1
            return _error(503, "upstream timeout (injected after the order was applied)")
        return _json(answer)

    async def _post_orders(self, request: web.Request) -> web.Response:
        key, raw = await self._l2(request)
        try:
            bodies = _POST_BODIES.decode(raw)
        except (msgspec.MsgspecError, RecursionError):
            raise SimReject(400, _INVALID_ORDER) from None
        if len(bodies) > 15:
            raise SimReject(400, "Payload exceeds the limit")
        out: list[dict[str, Any]] = []
        for body in bodies:
            try:
                out.append(self._submit(body, key))
                if out[-1]["status"] == "delayed":
                    self._release_later(body.order.tokenId)
            except SimReject as exc:
                out.append({"success": False, "errorMsg": exc.message, "orderID": "",
                            "status": "", "makingAmount": "", "takingAmount": ""})
        return _json(out)

    def _submit(self, body: PostOrderBody, key: str) -> dict[str, Any]:
        """``Exchange.post_order``; an order whose numeric strings or addresses do not parse
        (``"makerAmount": "abc"``) is the venue's ``Invalid order payload``, never a 500."""
        try:
            return self.exchange.post_order(body, key, self.clock())
        except (ValueError, OverflowError):  # SignatureError and UnitError included
            raise SimReject(400, _INVALID_ORDER) from None

    def _release_later(self, token: str) -> None:
        """Match a delayed order when its market's delay is over (the ticker is the backstop)."""
        market = self.exchange.tokens[token]
        asyncio.get_running_loop().call_later(
            market.match_delay_ms / 1000 + 0.002, lambda: self.exchange.release_delayed(self.clock())
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        key, raw = await self._l2(request)
        try:
            order_id = _text(parse_json(raw)["orderID"])
        except (BadInput, TypeError, KeyError):
            raise SimReject(400, _INVALID_PAYLOAD) from None
        return _json(self.exchange.cancel(key, [order_id], self.clock()))

    async def _cancel_many(self, request: web.Request) -> web.Response:
        key, raw = await self._l2(request)
        try:
            items = parse_json(raw)
            if not isinstance(items, list):
                raise BadInput("a list of order ids")
            ids = [_text(i) for i in items]
        except (BadInput, TypeError):
            raise SimReject(400, _INVALID_PAYLOAD) from None
        return _json(self.exchange.cancel(key, ids, self.clock()))

    async def _cancel_all(self, request: web.Request) -> web.Response:
        key, _ = await self._l2(request)
        ids = [o.id for o in self.exchange.open_orders_of(key)]
        return _json(self.exchange.cancel(key, ids, self.clock()))

    async def _cancel_market(self, request: web.Request) -> web.Response:
        key, raw = await self._l2(request)
        try:
            spec = parse_json(raw) if raw else {}
            if not isinstance(spec, dict):
                raise BadInput("an object {market, asset_id}")
            market, asset = _text(spec.get("market", "")), _text(spec.get("asset_id", ""))
        except (BadInput, TypeError):
            raise SimReject(400, _INVALID_PAYLOAD) from None
        ids = [
            o.id for o in self.exchange.open_orders_of(key)
            if (not market or o.market.condition_id == market) and (not asset or o.token == asset)
        ]
        return _json(self.exchange.cancel(key, ids, self.clock()))

    async def _open_orders(self, request: web.Request) -> web.Response:
        key, _ = await self._l2(request)
        q = request.query
        orders = [
            o for o in self.exchange.open_orders_of(key)
            if (not q.get("id") or o.id == q["id"])
            and (not q.get("market") or o.market.condition_id == q["market"])
            and (not q.get("asset_id") or o.token == q["asset_id"])
        ]
        return self._page([o.open_json() for o in orders], q.get("next_cursor", "MA=="))

    async def _one_order(self, request: web.Request) -> web.Response:
        key, _ = await self._l2(request)
        order = self.exchange.orders.get(request.match_info["order_id"])
        if order is None or order.owner != key:
            return _json({})  # what the venue answers for an unknown id
        return _json(order.open_json())

    async def _trades(self, request: web.Request) -> web.Response:
        key, _ = await self._l2(request)
        q = request.query
        trades = self.exchange.trades_of(key)
        after, before = _query_int(q, "after"), _query_int(q, "before")
        trades = [
            t for t in trades
            if (not q.get("id") or t["id"] == q["id"])
            and (not q.get("market") or t["market"] == q["market"])
            and (not q.get("asset_id") or t["asset_id"] == q["asset_id"])
            and (after is None or int(t["match_time"]) >= after)
            and (before is None or int(t["match_time"]) < before)
        ]
        return self._page(trades, q.get("next_cursor", "MA=="))

    def _page(self, items: list[dict[str, Any]], cursor: str) -> web.Response:
        try:
            start = 0 if cursor in ("", "MA==") else int(base64.b64decode(cursor).decode())
        except ValueError:
            raise SimReject(400, "invalid next_cursor") from None
        page = items[start : start + _PAGE]
        end = start + len(page)
        nxt = END_CURSOR if end >= len(items) else base64.b64encode(str(end).encode()).decode()
        return _json({"data": page, "next_cursor": nxt, "limit": _PAGE, "count": len(page)})

    async def _balance_update(self, request: web.Request) -> web.Response:
        """Credit deposits the balance cache had not seen, then answer like ``/balance-allowance``."""
        key, _ = await self._l2(request)
        self.exchange.refresh_balance(self._balance_address(key, request.query))
        return await self._balance(request)

    def _balance_address(self, key: str, q: Any) -> str:
        signer = self.exchange.keys[key].address
        sig_type = q.get("signature_type", "0")
        if sig_type not in ("", "0", "-1"):
            for funder, (owner, kind) in self.exchange.funders.items():
                if owner == signer and str(kind) == sig_type:
                    return funder
        return signer

    async def _balance(self, request: web.Request) -> web.Response:
        key, _ = await self._l2(request)
        q = request.query
        address = self._balance_address(key, q)
        asset_type = q.get("asset_type", "COLLATERAL").upper()
        # CONDITIONAL-V2: balances of protocol-V2 position ids (docs /protocol-v2-migration;
        # polymarket-client ``get_balance_allowance`` docstring)
        conditional = asset_type in ("CONDITIONAL", "CONDITIONAL-V2")
        token = q.get("token_id") if conditional else None
        if conditional and not token:
            raise SimReject(400, "Invalid token id")
        return _json(self.exchange.balance_of(address, token))

    async def _deployed(self, request: web.Request) -> web.Response:
        """The relayer's ``GET /deployed?address=&type=``: is this wallet deployed?

        ``polymarket-client`` 0.14.0 asks it before trading from a proxy, Safe or deposit wallet
        (``_internal/actions/relayer/deployed.py``, read as ``{"deployed": bool}``); point the
        SDK's ``relayer_url`` at the local venue. A wallet is deployed here when an account
        registered it (``signature_type`` 1-3 in ACCOUNTS.toml).
        """
        address = request.query.get("address", "")
        try:
            known = checksum(address) in self.exchange.funders
        except SignatureError:
            return _error(400, "invalid address")
        return _json({"deployed": known})

    # -- WebSockets ---------------------------------------------------------------------------
    async def _ws_market(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request.transport)
        self.market_conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        subscribed = False
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                if msg.type is WSMsgType.TEXT and msg.data == "PING":
                    conn.queue.put_nowait([b"PONG"])
                    continue
                sub = _market_subscription(msg.data if msg.type is WSMsgType.TEXT else None)
                if sub is None:
                    self.stats["ws_bad_frames"] += 1
                    if not subscribed:  # the venue's close (nautilus_trader issue 4864)
                        code, reason = WS_INVALID_SUBSCRIPTION
                        await ws.close(code=code, message=reason.encode())
                        break
                    conn.queue.put_nowait([WS_INVALID_OPERATION.encode()])
                    continue
                subscribed = True
                self._market_subscribe(conn, sub)
        finally:
            self.market_conns.discard(conn)
            conn.queue.put_nowait(None)
            await writer
        return ws

    def _market_subscribe(self, conn: _Conn, sub: dict[str, Any]) -> None:
        """Apply a market-channel message already checked by :func:`_market_subscription`."""
        assets: list[str] = sub.get("assets_ids") or []
        op = str(sub.get("operation", "subscribe")).lower()
        if op == "unsubscribe":
            conn.assets.difference_update(assets)
            return
        conn.stalled.difference_update(assets)  # a fresh subscription delivers again
        if sub.get("custom_feature_enabled"):
            conn.custom = True
        if sub.get("type") == "market":
            conn.assets = set(assets)
        else:
            conn.assets.update(assets)
        if sub.get("initial_dump", True):
            now = self.clock()
            frames = []
            for token in assets:
                market = self.exchange.tokens.get(token)
                if market is not None:
                    event = self.exchange.book_event(market, token, now)
                    frames.append(msgspec.json.encode([event]))
            if frames:
                conn.queue.put_nowait(frames)

    async def _ws_user(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request.transport)
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                if msg.type is WSMsgType.TEXT and msg.data == "PING":
                    conn.queue.put_nowait([b"PONG"])
                    continue
                sub = _user_message(msg.data if msg.type is WSMsgType.TEXT else None)
                if conn.api_key is not None:
                    if sub is None or sub.get("operation") not in ("subscribe", "unsubscribe"):
                        self.stats["ws_bad_frames"] += 1
                        conn.queue.put_nowait([WS_INVALID_OPERATION.encode()])
                        continue
                    # a change of an authenticated subscription (``polymarket-client`` 0.14.0
                    # ``streams/clob/user_protocol.py`` ``_build_subscribe_update``): markets
                    # are added or removed; no markets left means all markets again
                    changed = set(sub.get("markets") or [])
                    if sub["operation"] == "subscribe":
                        conn.markets |= changed
                    else:
                        conn.markets -= changed
                    continue
                if sub is None:
                    self.stats["ws_bad_frames"] += 1
                    code, reason = WS_INVALID_SUBSCRIPTION
                    await ws.close(code=code, message=reason.encode())
                    break
                key = self._user_key(sub)
                if key is None:
                    await ws.close(code=4001, message=b"invalid credentials")
                    break
                conn.api_key = key
                # the official subscribe omits ``markets`` to hear of every market of the key
                # (``polymarket-client`` ``user_protocol.build_initial_frame``; docs
                # /market-data/websocket/user-channel: markets are an optional filter)
                conn.markets = set(sub.get("markets") or [])
                self.user_conns.add(conn)
        finally:
            self.user_conns.discard(conn)
            conn.queue.put_nowait(None)
            await writer
        return ws

    def _user_key(self, sub: Any) -> str | None:
        """The API key a user-channel subscribe authenticates, or None (bad credentials)."""
        try:
            auth = sub["auth"]
            key = str(auth["apiKey"])
            record = self.exchange.keys.get(key)
            ok = (record is not None and record.creds.secret == auth.get("secret")
                  and record.creds.passphrase == auth.get("passphrase"))
        except (KeyError, TypeError):
            return None
        return key if ok else None

    async def _writer(self, conn: _Conn) -> None:
        faults = self.faults
        while True:
            frames = await conn.queue.get()
            if frames is None:
                return
            if frames != [b"PONG"]:
                frames = faults.shape_frames(frames)
                await faults.delay()
            transport = conn.transport
            if transport is not None and not faults.between_frames:
                # the batch as one write (text_frame's docstring says why)
                if conn.ws.closed or not await write_batch(transport, frames):
                    return
                continue
            for frame in frames:
                if conn.ws.closed:
                    return
                try:
                    await conn.ws.send_str(frame.decode())
                except (ConnectionError, RuntimeError):
                    return
                if frame != b"PONG" and faults.take_disconnect():
                    await conn.ws.close()
                    return

    def _broadcast_market(self, events: list[dict[str, Any]]) -> None:
        for conn in self.market_conns:
            assets = conn.assets - conn.stalled if conn.stalled else conn.assets
            frames: list[bytes] = []
            for event in events:
                kind = event["event_type"]
                if kind in _CUSTOM_EVENTS and not conn.custom:
                    continue
                if kind == "price_change":
                    items = [c for c in event["price_changes"] if c["asset_id"] in assets]
                    if not items:
                        continue
                    if len(items) != len(event["price_changes"]):
                        event = {**event, "price_changes": items}
                elif kind == "new_market":
                    pass  # a listing: every custom-feature subscriber hears of it
                elif kind == "market_resolved":
                    if not assets.intersection(event["assets_ids"]):
                        continue
                elif event.get("asset_id") not in assets:
                    continue
                frames.append(msgspec.json.encode(event))
            if frames:
                conn.queue.put_nowait(frames)

    def _broadcast_user(self, owner: str, event: dict[str, Any]) -> None:
        frame = None
        for conn in self.user_conns:
            if conn.api_key != owner:
                continue
            if conn.markets and event.get("market") not in conn.markets:
                continue
            frame = frame or msgspec.json.encode(event)
            conn.queue.put_nowait([frame])

    # -- admin --------------------------------------------------------------------------------
    async def _admin_body(self, request: web.Request) -> dict[str, Any]:
        """A test control's JSON object (``BadInput`` → 400 ``Invalid payload`` otherwise)."""
        data = parse_json(await request.read())
        if not isinstance(data, dict):
            raise BadInput("a JSON object")
        return data

    async def _admin_faults(self, request: web.Request) -> web.Response:
        settings = await self._admin_body(request)
        lose = settings.pop("lose_order_responses", None)
        try:
            lost = None if lose is None else int(lose)
            if settings.get("reset"):
                self.faults.reset()
                settings = {k: v for k, v in settings.items() if k != "reset"}
            self.faults.update(settings)
        except (SimConfigError, ValueError, TypeError, OverflowError) as exc:
            return _error(400, str(exc)[:200])
        if lost is not None:
            self.lose_order_responses = lost
        return _json("OK")

    async def _admin_tick(self, request: web.Request) -> web.Response:
        data = await self._admin_body(request)
        market, _ = self._token_of(str(data.get("token_id", "")))
        try:
            tick = parse_tick(_text(data.get("tick_size")))
        except (UnitError, TypeError):
            return _error(400, "tick_size must be a tick string such as 0.01")
        self.exchange.set_tick(market, tick, self.clock())
        return _json("OK")

    async def _admin_market_feed(self, request: web.Request) -> web.Response:
        """Market-channel scenarios for tests: ``{"action": ...}`` with

        * ``raw``: send ``frames`` (strings, sent as they are, malformed or not) to every market
          connection;
        * ``stall``: every current subscription silently stops delivering ``token_ids`` (the
          connection stays up and answers PING) until those tokens are subscribed again;
        * ``resolve``: resolve the market of ``token_id`` with ``winner`` (a token id);
        * ``new_market``: announce the market of ``token_id``;
        * ``books_limit``: ``POST /books`` refuses more than ``limit`` tokens (null: no limit);
        * ``books_shape``: ``current`` or ``2024`` (see :attr:`books_shape`);
        * ``firehose``: publish ``count`` ``price_change`` frames (see :meth:`_firehose`).
        """
        data = await self._admin_body(request)
        action = str(data.get("action", ""))
        if action == "raw":
            frames = [_text(f).encode() for f in data.get("frames") or []]
            for conn in self.market_conns:
                conn.queue.put_nowait(list(frames))
        elif action == "stall":
            tokens = {_text(t) for t in data.get("token_ids") or []}
            for conn in self.market_conns:
                conn.stalled.update(tokens & conn.assets)
        elif action == "resolve":
            market, token = self._token_of(str(data.get("token_id", "")))
            try:
                self.exchange.resolve(market, str(data.get("winner", token)), self.clock())
            except ValueError as exc:
                return _error(400, str(exc))
        elif action == "new_market":
            market, _ = self._token_of(str(data.get("token_id", "")))
            self.exchange.announce(market, self.clock())
        elif action == "books_limit":
            limit = data.get("limit")
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
                return _error(400, "limit must be an integer or null")
            self.books_limit = limit
        elif action == "books_shape" and data.get("shape") in ("current", "2024"):
            self.books_shape = str(data["shape"])
        elif action == "firehose":
            count = data.get("count", 100_000)
            if isinstance(count, bool) or not isinstance(count, int) \
                    or not 0 <= count <= MAX_FIREHOSE:
                return _error(400, f"count must be an integer 0..{MAX_FIREHOSE}")
            self._tasks.append(asyncio.create_task(self._firehose(count)))
        else:
            return _error(400, "action must be raw, stall, resolve, new_market, books_limit, "
                               "books_shape (current|2024) or firehose")
        return _json("OK")

    async def _firehose(self, count: int) -> None:
        """Publish ``count`` one-level ``price_change`` frames, a benchmark load on the real
        publish path (per-connection asset filter, encoding, each connection's writer).

        They come in pairs on a token's worst level: its size one share up, then back. The
        ``best_bid``/``best_ask`` they carry are the token's real top, which never moves, so a
        client's books and top-of-book checks still match the venue's at the end (the Kalshi
        firehose's contract, ``sim.kalshi.server``). Frames are in the venue's current form,
        as :meth:`Exchange._emit_levels` writes them.
        """
        tokens = [t for t in self.exchange.tokens if any(self.exchange.tokens[t].levels(t))]
        sent = i = 0
        while sent < count and tokens:
            events: list[dict[str, Any]] = []
            stamp = str(self.clock() // 1_000_000)
            plans: dict[tuple[str, bool], list[dict[str, Any]]] = {}
            for _ in range(min(1000, count - sent) // 2):
                token = tokens[i % len(tokens)]
                key = (token, (i // len(tokens)) % 2 == 0)
                i += 1
                plan = plans.get(key)
                if plan is None:  # the book is read once a batch: the frames never move it
                    plan = plans[key] = self._firehose_pair(token, key[1], stamp)
                events += plan
            if not events:
                break
            sent += len(events)
            self._broadcast_market(events)
            # let the writers drain: never let a connection's backlog run away
            while any(c.queue.qsize() > 20 for c in self.market_conns):
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)

    def _firehose_pair(self, token: str, bid_side: bool, stamp: str) -> list[dict[str, Any]]:
        market = self.exchange.tokens[token]
        bids, asks = market.levels(token)
        side, levels = ("BUY", bids) if bids and (bid_side or not asks) else ("SELL", asks)
        price, size = levels[-1]
        bid, ask = market.top(token)
        return [{
            "event_type": "price_change", "market": market.condition_id, "timestamp": stamp,
            "price_changes": [{
                "asset_id": token, "price": price_str(price), "size": size_str(level_size),
                "side": side, "hash": "",
                "best_bid": price_str(bid) if bid is not None else "0",
                "best_ask": price_str(ask) if ask is not None else "1",
            }],
        } for level_size in (size + ONE_CONTRACT, size)]

    async def _admin_mode(self, request: web.Request) -> web.Response:
        data = await self._admin_body(request)
        mode = str(data.get("mode", "on"))
        if mode not in ("on", "cancel-only", "off"):
            return _error(400, "mode must be on, cancel-only or off")
        self.exchange.trading_mode = mode
        return _json("OK")

    async def _admin_fund(self, request: web.Request) -> web.Response:
        data = await self._admin_body(request)
        try:
            raw_tokens = data.get("tokens") or {}
            if not isinstance(raw_tokens, dict):
                raise TypeError("tokens must be an object")
            tokens = {str(t): parse_size(_text(v)) for t, v in raw_tokens.items()}
            address = _text(data.get("address"))
            collateral = parse_money(str(data.get("collateral", "0")))
            checksum(address)
        except (UnitError, TypeError, SignatureError) as exc:
            return _error(400, f"bad fund request: {str(exc)[:120]}")
        self.exchange.fund(address, collateral, tokens, unseen=bool(data.get("unseen", False)))
        return _json("OK")


def _string_list(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _ws_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = parse_json(text)
    except BadInput:
        return None
    return data if isinstance(data, dict) else None


def _market_subscription(text: str | None) -> dict[str, Any] | None:
    """A market-channel message in the documented form (docs ``/market-data/websocket/
    market-channel``: ``assets_ids`` a list of token ids; ``type``, ``operation``,
    ``custom_feature_enabled``, ``initial_dump`` optional), else ``None``."""
    sub = _ws_object(text)
    if sub is None or not _string_list(sub.get("assets_ids")):
        return None
    if not isinstance(sub.get("operation", "subscribe"), str):
        return None
    if sub.get("type") is not None and not isinstance(sub.get("type"), str):
        return None
    for flag in ("custom_feature_enabled", "initial_dump"):
        if sub.get(flag) is not None and not isinstance(sub.get(flag), bool):
            return None
    return sub


def _user_message(text: str | None) -> dict[str, Any] | None:
    """A user-channel message in the documented form (``auth`` an object of strings,
    ``markets`` a list of condition ids), else ``None``."""
    sub = _ws_object(text)
    if sub is None or not _string_list(sub.get("markets")):
        return None
    auth = sub.get("auth")
    if auth is not None and not (isinstance(auth, dict)
                                 and all(isinstance(v, str) for v in auth.values())):
        return None
    return sub


def _text(value: Any) -> str:
    """A string field of a request body; any other JSON type is a malformed body."""
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _query_int(q: Any, name: str) -> int | None:
    """An integer query parameter (Unix seconds); another value is a 400 (its wording on the
    venue is unpublished; the shape is the documented ``{"error": ...}``)."""
    text = q.get(name)
    if not text:
        return None
    if not text.lstrip("-").isdigit() or len(text) > 20:
        raise SimReject(400, f"invalid {name}")
    return int(text)


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _p(price: int | None) -> str:
    return "0" if price is None else price_str(price)


def _p2(double_price: int) -> str:
    """Half of a doubled price, exactly (midpoints land on half ticks)."""
    return format_decimal(double_price * 5, 5)

