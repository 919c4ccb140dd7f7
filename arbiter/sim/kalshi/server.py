"""The local Kalshi's HTTP + WebSocket shell around :mod:`arbiter.sim.kalshi.exchange`.

Serves ``/trade-api/v2/...`` and ``/trade-api/ws/v2`` like the venue (venues.md §1, §3.1): every
signature and timestamp is verified against the registered public keys, legacy (SDK-era) and
current (events/orders, ``*_fp``/``*_dollars``) forms are both answered, and each WebSocket
subscription keeps its own ``seq``. Test-only controls live under ``/_sim/`` (faults, settlement,
a delta firehose for benchmarks) and are never part of the venue's surface.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

from aiohttp import WSMsgType, web

from arbiter.core.matching import OrderSide
from arbiter.core.units import (
    CENT,
    PRICE_SCALE,
    SIZE_SCALE,
    UnitError,
    format_money,
    format_price,
    format_size,
    parse_price,
    parse_size,
    price_from_cents,
)
from arbiter.sim.catalogue import KalshiCatalogue
from arbiter.sim.common import (
    ADMIN_PREFIX,
    WRITE_HIGH_WATER,
    BadInput,
    FaultSwitches,
    RandomWalk,
    ScenarioSpec,
    SimConfigError,
    admin_authorized,
    admin_headers,
    diff_quotes,
    load_accounts,
    maker_quotes,
    new_admin_token,
    parse_json,
    text_frame,
    write_batch,
)
from arbiter.sim.kalshi.exchange import (
    BookDelta,
    Exchange,
    Position,
    SimError,
    SimOrder,
    _dollars4,
)
from arbiter.venues.kalshi.config import REST_PREFIX, WS_PATH
from arbiter.venues.kalshi.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    load_public_key,
    verify_message,
)

log = logging.getLogger(__name__)

MAKER_ACCOUNT: Final = "sim-maker"
PRIVATE_CHANNELS: Final = frozenset(
    {"orderbook_delta", "fill", "market_positions", "communications", "order_group_updates",
     "user_orders"}
)
SIMULATED_CHANNELS: Final = frozenset({"orderbook_delta", "trade", "fill", "market_lifecycle_v2",
                                       "ticker"})
KNOWN_CHANNELS: Final = frozenset(
    {"orderbook_delta", "ticker", "trade", "fill", "market_positions", "market_lifecycle_v2",
     "multivariate_market_lifecycle", "communications", "order_group_updates", "user_orders",
     "cfbenchmarks_value"}
)
MAX_PENDING_FRAMES: Final = 200_000
#: deltas one ``/_sim/firehose`` call may ask for (the feed benchmark sends 300,000)
MAX_FIREHOSE: Final = 100_000_000
#: the authenticated key id of a request (``None`` on unsigned public requests)
ACCOUNT: Final = web.RequestKey("account", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: what a handler raises on a hostile value it did not check for itself (a field of the wrong
#: JSON type reaching ``int()``/``.get()``): still a refused request, never a 500
_INPUT_ERRORS: Final = (ValueError, TypeError, KeyError, AttributeError, OverflowError,
                        RecursionError, ZeroDivisionError)
#: aiohttp's own refusals, in the venue's nested error shape (the venue's codes for an unknown
#: route or method are unpublished; the client reads any JSON object, venues.md §1.9)
_HTTP_CODES: Final = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def _err(status: int, code: str, message: str, details: str | None = None) -> web.Response:
    return web.json_response(SimError(status, code, message, details).body(), status=status)


# -- rate limits ---------------------------------------------------------------------------------


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    capacity: float
    stamp: float
    tokens: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, cost: float, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


#: tier -> (read tokens/s, write tokens/s) per §1.10; each request costs 10 tokens
RATE_TIERS: Final = {"basic": (200, 100), "advanced": (300, 300), "premier": (1000, 1000)}


# -- WebSocket connections -------------------------------------------------------------------------


@dataclass(eq=False)
class Subscription:
    sid: int
    channel: str
    conn: Connection
    tickers: set[str] = field(default_factory=set)
    seq: int = 0


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    account: str | None
    subs: dict[int, Subscription] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    transport: asyncio.Transport | None = None

    def push(self, frame: str) -> None:
        if self.closed:
            return
        self.pending.append(frame)
        if len(self.pending) > MAX_PENDING_FRAMES:  # venue: code 25 buffer overflow
            self.pending = [json.dumps({"type": "error", "msg": {
                "code": 25, "msg": "Subscription buffer overflow"}})]
            self.closed = True
        self.wake.set()


class KalshiSim:
    """One running local Kalshi; start it in-process (tests) or through ``arbiter sim kalshi``."""

    def __init__(
        self,
        exchange: Exchange,
        scenario: ScenarioSpec | None = None,
        *,
        seed: int = 0,
        faults: FaultSwitches | None = None,
        ts_window_ms: int = 30_000,
        legacy_sdk: bool = False,
        legacy_ws: bool = False,
        rate_tier: str | None = None,
        ping_interval_s: float = 10.0,
        shards: Mapping[str, int] | None = None,
        ws_auth_required: bool = True,
        admin_token: str | None = None,
    ) -> None:
        self.exchange = exchange
        #: the ``X-Sim-Admin-Token`` every ``/_sim/...`` request must carry; a random one when
        #: the caller named none (the controls are then locked to whoever holds this object)
        self.admin_token = admin_token or new_admin_token()
        #: refuse unsigned WebSocket upgrades (the current AsyncAPI: "API key authentication
        #: required for WebSocket connections"); False: the older quick-start behaviour, public
        #: channels unsigned and error 9 on private ones
        self.ws_auth_required = ws_auth_required
        self.scenario = scenario
        self.seed = seed
        self.faults = faults or FaultSwitches(seed=seed)
        self.ts_window_ms = ts_window_ms
        #: answer as the SDK era did (legacy order mutations, integer fields, ``side``/``action``)
        #: instead of as the live venue (410 ``deprecated_v1_order_endpoint``, fixed-point only)
        self.legacy_sdk = legacy_sdk
        #: test control (``POST /_sim/corrupt_next_create``): fields that overwrite the next
        #: create answer once the order took effect, to test a client reading a bad answer
        self.corrupt_next_create: dict[str, Any] = {}
        #: ticker -> exchange shard for scenario markets (the rest are on shard 0)
        self.shards = dict(shards or {})
        self.legacy_ws = legacy_ws
        self.rate_tier = rate_tier
        self.ping_interval_s = ping_interval_s
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        #: monotonic seconds for the rate limiter; tests freeze it
        self.clock: Callable[[], float] = time.monotonic
        self._conns: set[Connection] = set()
        self._ticker_subs: dict[str, list[Subscription]] = {}
        #: ``ticker`` channel subscriptions per market, and the top each last saw
        self._quote_subs: dict[str, list[Subscription]] = {}
        self._last_top: dict[str, tuple[int, int, int, int, int]] = {}
        self._next_sid = 0
        self._walks: list[tuple[RandomWalk, str]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._maker_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._maker_n = 0
        self.port = 0
        self.host = "127.0.0.1"
        #: real Kalshi bodies served by ``GET /events`` / ``/series`` besides the traded markets
        self.catalogue = KalshiCatalogue()
        self.app = self._build_app()
        exchange.on_fill = self._publish_fill
        exchange.on_trade = self._publish_trade
        self.stats = {"ws_frames": 0, "http_requests": 0, "auth_failures": 0,
                      "bad_input": 0, "unhandled_input": 0, "ws_bad_frames": 0,
                      "admin_refused": 0}
        self._logged_kinds: set[tuple[str, str]] = set()

    # -- lifecycle ----------------------------------------------------------------------------
    def admin_headers(self) -> dict[str, str]:
        """Headers for a ``/_sim/...`` test-control call (the admin token)."""
        return admin_headers(self.admin_token)

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}{REST_PREFIX}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.host = host
        if self.scenario is not None:
            self._setup_scenario(self.scenario)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._tasks.append(asyncio.create_task(self._expiry_loop()))
        if self.scenario is not None and self.scenario.steps != 1:
            self._maker_task = asyncio.create_task(self._maker_loop(self.scenario))
            self._tasks.append(self._maker_task)
        return self.port

    async def stop_makers(self) -> None:
        """Freeze the scenario's makers (books stay as they are): tests compare books at rest."""
        task, self._maker_task = self._maker_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def step_makers(self) -> None:
        """Advance every maker's walk by one step now (deterministic tests drive time)."""
        for walk, ticker in self._walks:
            self._requote(walk, ticker, walk.step())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for conn in list(self._conns):
            conn.closed = True
            conn.wake.set()
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> KalshiSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- scenario makers ----------------------------------------------------------------------
    def _setup_scenario(self, spec: ScenarioSpec) -> None:
        if MAKER_ACCOUNT not in self.exchange.accounts:
            self.exchange.add_account(MAKER_ACCOUNT, None, 0, unlimited=True)
        for m in spec.markets:
            venue = m.venues.get("kalshi", {})
            ticker = str(venue.get("ticker") or f"KX{m.key}")
            if "fee_type" in venue or "fee_multiplier" in venue:
                self.exchange.add_series(
                    str(venue.get("series") or ticker.split("-", 1)[0]),
                    str(venue.get("fee_type", "quadratic")),
                    str(venue.get("fee_multiplier", "1")),
                )
            if ticker not in self.exchange.markets:
                shard = self.shards.get(ticker, venue.get("exchange_index", 0))
                structure = venue.get("price_level_structure")
                self.exchange.add_market(ticker, m.title, m.tick, venue.get("series"),
                                         str(structure) if structure else None,
                                         exchange_index=int(shard))
            walk = RandomWalk(m, self.seed, "kalshi")
            self._walks.append((walk, ticker))
            self._requote(walk, ticker, walk.mid)

    def _requote(self, walk: RandomWalk, ticker: str, mid: int) -> None:
        market = self.exchange.markets[ticker]
        if market.status != "active":
            return
        current: dict[tuple[bool, int], int] = {}
        ids: dict[tuple[bool, int], list[str]] = {}
        for o in market.book.open_orders(MAKER_ACCOUNT):
            key = (o.side.value == "buy", o.price)
            current[key] = current.get(key, 0) + o.remaining
            ids.setdefault(key, []).append(o.order_id)
        cancels, places = diff_quotes(current, maker_quotes(walk.market, mid))
        deltas: list[BookDelta] = []
        for key in cancels:
            for oid in ids[key]:
                deltas.extend(self.exchange.cancel(MAKER_ACCOUNT, oid)[2])
        for q in places:
            self._maker_n += 1
            try:
                _, d = self.exchange.place(
                    MAKER_ACCOUNT, ticker, "yes", "buy" if q.is_bid else "sell", q.price, q.size,
                    f"mk-{self._maker_n}",
                )
            except SimError as exc:  # e.g. post-settlement; makers never break the sim
                log.debug("maker quote refused: %s", exc.message)
                continue
            deltas.extend(d)
        self.publish(deltas)

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.publish(self.exchange.expire())
            self.exchange.housekeeping()

    async def _maker_loop(self, spec: ScenarioSpec) -> None:
        steps = 0
        while spec.steps == 0 or steps < spec.steps:
            await asyncio.sleep(spec.step_ms / 1000)
            steps += 1
            self.step_makers()

    # -- publishing -------------------------------------------------------------------------
    def _next_seq(self, sub: Subscription) -> int:
        sub.seq += 1
        if self.faults.take_seq_gap():
            sub.seq += 1
        return sub.seq

    def publish(self, deltas: Iterable[BookDelta]) -> None:
        now_ms = int(time.time() * 1000)
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms // 1000))
        touched: set[Connection] = set()
        for ticker, side, price, delta in deltas:
            subs = self._ticker_subs.get(ticker)
            if not subs:
                continue
            market_id = self.exchange.markets[ticker].market_id
            legacy = ""
            if self.legacy_ws:
                legacy = f',"price":{price // 100},"delta":{delta // SIZE_SCALE}'
            body = (
                f'"msg":{{"market_ticker":"{ticker}","market_id":"{market_id}",'
                f'"price_dollars":"{format_price(price)}","delta_fp":"{format_size(delta, 2)}",'
                f'"side":"{side}","ts":"{ts}","ts_ms":{now_ms}{legacy}}}}}'
            )
            for sub in subs:
                sub.conn.push(
                    f'{{"type":"orderbook_delta","sid":{sub.sid},"seq":{self._next_seq(sub)},{body}'
                )
                touched.add(sub.conn)
        if self._quote_subs:
            self._publish_tickers({d[0] for d in deltas}, now_ms)
        for conn in touched:
            self._flush(conn)

    def _publish_tickers(self, tickers: Iterable[str], now_ms: int) -> None:
        """``ticker`` frames for markets whose top of book or last price changed, in the live
        form (a captured frame: tests/venues/kalshi/fixtures/ws_ticker_ssmd.jsonl); an empty
        side is the sentinel 0 (bid) / 1 (ask)."""
        for ticker in tickers:
            subs = self._quote_subs.get(ticker)
            market = self.exchange.markets.get(ticker)
            if not subs or market is None:
                continue
            book = market.book
            bid, ask = book.best_bid() or 0, book.best_ask() or PRICE_SCALE
            bid_size = book.size_at(OrderSide.BUY, bid) if bid else 0
            ask_size = book.size_at(OrderSide.SELL, ask) if ask < PRICE_SCALE else 0
            top = (bid, ask, bid_size, ask_size, market.last_price)
            if self._last_top.get(ticker) == top:
                continue
            self._last_top[ticker] = top
            msg = {
                "market_id": market.market_id, "market_ticker": ticker,
                "price_dollars": _dollars4(market.last_price),
                "yes_bid_dollars": _dollars4(bid), "yes_ask_dollars": _dollars4(ask),
                "volume_fp": format_size(market.volume, 2),
                "open_interest_fp": format_size(market.open_interest, 2),
                "yes_bid_size_fp": format_size(bid_size, 2),
                "yes_ask_size_fp": format_size(ask_size, 2),
                "ts": now_ms // 1000, "ts_ms": now_ms,
            }
            if self.legacy_ws:
                msg.update(price=market.last_price // 100, yes_bid=bid // 100,
                           yes_ask=ask // 100, volume=market.volume // SIZE_SCALE)
            for sub in subs:
                sub.conn.push(json.dumps({"type": "ticker", "sid": sub.sid,
                                          "seq": self._next_seq(sub), "msg": msg}))

    def _flush(self, conn: Connection) -> None:
        """Write a connection's queued frames now, in the publisher's stack.

        The writer task would send them a loop turn later (0.05-0.15 ms here): time the real
        venue's gateway does not spend, which a tick-to-order measurement would charge to the
        engine. Only the plain path is taken here; with latency or disconnect faults, or a
        backlog over the high-water mark, the writer task (woken by ``push``) sends them as
        before. A batch still goes out as one write, so the firehose keeps its throughput.
        """
        transport = conn.transport
        faults = self.faults
        if (
            not conn.pending
            or conn.closed
            or transport is None
            or transport.is_closing()
            or faults.between_frames
            or transport.get_write_buffer_size() > WRITE_HIGH_WATER
        ):
            return
        frames, conn.pending = faults.shape_frames(conn.pending), []
        transport.write(b"".join(text_frame(f) for f in frames))
        self.stats["ws_frames"] += len(frames)

    def _snapshot_frame(self, sub: Subscription, ticker: str) -> str:
        yes, no = self.exchange.bids(ticker)
        msg: dict[str, Any] = {
            "market_ticker": ticker,
            "market_id": self.exchange.markets[ticker].market_id,
            "yes_dollars_fp": [[format_price(p), format_size(s, 2)] for p, s in yes],
            "no_dollars_fp": [[format_price(p), format_size(s, 2)] for p, s in no],
        }
        if self.legacy_ws:
            msg["yes"] = [[p // 100, s // SIZE_SCALE] for p, s in yes]
            msg["no"] = [[p // 100, s // SIZE_SCALE] for p, s in no]
        return json.dumps({"type": "orderbook_snapshot", "sid": sub.sid,
                           "seq": self._next_seq(sub), "msg": msg}, separators=(",", ":"))

    def _publish_fill(self, account: str, record: dict[str, Any]) -> None:
        for conn in self._conns:
            if conn.account != account:
                continue
            for sub in conn.subs.values():
                if sub.channel == "fill":
                    msg = {k: record[k] for k in (
                        "trade_id", "order_id", "client_order_id", "market_ticker", "is_taker",
                        "outcome_side", "book_side",  # docs order_direction: on every Fill
                        "side", "action", "yes_price_dollars", "count_fp", "fee_cost", "ts",
                        "ts_ms", "post_position_fp")}
                    msg["subaccount"] = 0
                    conn.push(json.dumps({"type": "fill", "sid": sub.sid,
                                          "seq": self._next_seq(sub), "msg": msg}))

    def _publish_trade(self, trade: dict[str, Any]) -> None:
        for conn in self._conns:
            for sub in conn.subs.values():
                if sub.channel == "trade" and (
                    not sub.tickers or trade["market_ticker"] in sub.tickers
                ):
                    conn.push(json.dumps({"type": "trade", "sid": sub.sid,
                                          "seq": self._next_seq(sub), "msg": trade}))

    # -- authentication -----------------------------------------------------------------------
    def _authenticate(self, request: web.Request, required: bool) -> str | None:
        """Key id of a correctly signed request; ``None`` if unsigned and not required."""
        key = request.headers.get(HEADER_KEY)
        ts = request.headers.get(HEADER_TIMESTAMP)
        sig = request.headers.get(HEADER_SIGNATURE)
        if not (key or ts or sig):
            if required:
                raise SimError(401, "authentication_error", "missing authentication headers",
                               "signature_is_missing")
            return None
        if not (key and ts and sig):
            raise SimError(401, "authentication_error", "incomplete authentication headers",
                           "signature_is_missing")
        acct = self.exchange.accounts.get(key)
        if acct is None or acct.public_key is None:
            raise SimError(401, "authentication_error", "unknown API key", "NOT_FOUND")
        if not ts.isdigit() or abs(int(ts) - int(time.time() * 1000)) > self.ts_window_ms:
            raise SimError(401, "header_timestamp_expired",
                           "request timestamp is outside the accepted window")
        if not verify_message(acct.public_key, ts, request.method, request.rel_url.raw_path, sig):
            raise SimError(401, "authentication_error", "signature verification failed",
                           "INCORRECT_API_KEY_SIGNATURE")
        return key

    # -- the app --------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        p = REST_PREFIX
        r = app.router
        r.add_get(f"{p}/exchange/status", self.h_status)
        r.add_get(f"{p}/markets", self.h_markets)
        r.add_get(f"{p}/markets/{{ticker}}", self.h_market)
        r.add_get(f"{p}/markets/{{ticker}}/orderbook", self.h_orderbook)
        r.add_get(f"{p}/series", self.h_series_list)
        r.add_get(f"{p}/series/fee_changes", self.h_series_fee_changes)
        r.add_get(f"{p}/series/{{series}}", self.h_series)
        r.add_get(f"{p}/events", self.h_events)
        r.add_get(f"{p}/events/{{event}}", self.h_event)
        r.add_post(f"{p}/portfolio/orders", self.h_create_legacy)
        r.add_post(f"{p}/portfolio/events/orders", self.h_create_v2)
        r.add_get(f"{p}/portfolio/orders", self.h_orders)
        r.add_get(f"{p}/portfolio/orders/{{order_id}}", self.h_order)
        r.add_delete(f"{p}/portfolio/orders/{{order_id}}", self.h_cancel_legacy)
        r.add_delete(f"{p}/portfolio/events/orders/{{order_id}}", self.h_cancel_v2)
        r.add_post(f"{p}/portfolio/intra_exchange_instance_transfer", self.h_transfer)
        r.add_get(f"{p}/portfolio/balance", self.h_balance)
        r.add_get(f"{p}/portfolio/positions", self.h_positions)
        r.add_get(f"{p}/portfolio/fills", self.h_fills)
        r.add_get(WS_PATH, self.h_ws)
        r.add_post("/_sim/faults", self.h_admin_faults)
        r.add_post("/_sim/settle", self.h_admin_settle)
        r.add_post("/_sim/market", self.h_admin_market)
        r.add_post("/_sim/event_fee", self.h_admin_event_fee)
        r.add_post("/_sim/exchange", self.h_admin_exchange)
        r.add_post("/_sim/firehose", self.h_admin_firehose)
        r.add_get("/_sim/state", self.h_admin_state)
        r.add_post("/_sim/corrupt_next_create", self.h_admin_corrupt_create)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(ADMIN_PREFIX):
            if not admin_authorized(request.headers, self.admin_token):
                self.stats["admin_refused"] += 1
                return _err(401, "unauthorized",
                            "the local venue's test controls need the X-Sim-Admin-Token header")
            return await self._guarded(request, handler)
        self.stats["http_requests"] += 1
        await self.faults.delay()
        if path == WS_PATH:
            return await handler(request)
        fault = None if self.faults.http_burst_after else self.faults.take_http_fault(
            request.method)
        if fault is not None:
            return _fault_response(fault)
        try:
            required = path.startswith(f"{REST_PREFIX}/portfolio")
            account = self._authenticate(request, required)
            if account is not None:
                request[ACCOUNT] = account
            await self.faults.stall(account)
            if self.rate_tier and account is not None:
                kind = "read" if request.method == "GET" else "write"
                if not self._bucket(account, kind).take(10, self.clock()):
                    return web.json_response({"error": "too many requests"}, status=429)
        except SimError as exc:
            if exc.status == 401:
                self.stats["auth_failures"] += 1
            return web.json_response(exc.body(), status=exc.status)
        response = await self._guarded(request, handler)
        if self.faults.http_burst_after and response.status < 400:
            fault = self.faults.take_http_fault(request.method)
            if fault is not None:
                return _fault_response(fault)
        return response

    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run a handler; every refusal leaves in the venue's error shape, never as a 500.

        Handlers check what they read and raise :class:`SimError`; a body that is not JSON is
        :class:`BadInput` (the venue's top-level ``bad_request``, docs.kalshi.com
        ``/getting_started/order_errors``); aiohttp's 404/405/413 get the nested shape. What
        a handler did not check (a wrong JSON type reaching ``int()``) is refused the same
        way, counted in ``stats["unhandled_input"]`` and logged once per route and kind, so
        the fuzz bench (``bench/sim_fuzz.py``) shows where a check is missing.
        """
        try:
            return await handler(request)
        except SimError as exc:
            if exc.status == 401:
                self.stats["auth_failures"] += 1
            return web.json_response(exc.body(), status=exc.status)
        except BadInput as exc:
            self.stats["bad_input"] += 1
            return web.json_response(SimError.bad_request(str(exc)).body(), status=400)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.status >= 500:
                raise
            code = _HTTP_CODES.get(exc.status, "bad_request")
            return _err(exc.status, code, exc.reason.lower())
        except _INPUT_ERRORS as exc:
            self.stats["unhandled_input"] += 1
            kind = (request.match_info.route.resource.canonical
                    if request.match_info.route.resource else request.path, type(exc).__name__)
            if kind not in self._logged_kinds:
                self._logged_kinds.add(kind)
                log.warning("local Kalshi: unchecked bad input on %s: %s", kind[0], kind[1])
            return web.json_response(SimError.bad_request(type(exc).__name__).body(), status=400)

    def _bucket(self, account: str, kind: str) -> TokenBucket:
        bucket = self._buckets.get((account, kind))
        if bucket is None:
            read, write = RATE_TIERS[self.rate_tier or "basic"]
            rate = read if kind == "read" else write
            cap = rate if kind == "read" else 2 * rate  # write bucket holds 2 s of budget
            bucket = self._buckets[(account, kind)] = TokenBucket(rate, cap, self.clock())
        return bucket

    # -- public endpoints -----------------------------------------------------------------------
    async def h_status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"exchange_active": True, "trading_active": self.exchange.trading_active}
        )

    async def h_markets(self, request: web.Request) -> web.Response:
        q = request.query
        markets = list(self.exchange.markets.values())
        status = q.get("status")
        if status:  # the filter's words (docs /getting_started/market_lifecycle)
            wanted = _STATUS_FILTER.get(status, {status})
            markets = [m for m in markets if m.status in wanted]
        if q.get("tickers"):
            names = set(q["tickers"].split(","))
            markets = [m for m in markets if m.ticker in names]
        if q.get("event_ticker"):
            markets = [m for m in markets if m.event_ticker == q["event_ticker"]]
        if q.get("series_ticker"):
            markets = [m for m in markets if m.event_ticker.startswith(q["series_ticker"])]
        if q.get("exchange_index"):
            shard = _int_or_none(q["exchange_index"])
            markets = [m for m in markets if m.exchange_index == shard]
        page, cursor = _page(markets, q)
        return web.json_response({
            "markets": [self.exchange.market_json(m, self.legacy_sdk) for m in page],
            "cursor": cursor,
        })

    def _market(self, ticker: str) -> Any:
        market = self.exchange.markets.get(ticker)
        if market is None:
            raise SimError(404, "market_not_found", f"market {ticker} not found")
        return market

    async def h_market(self, request: web.Request) -> web.Response:
        market = self._market(request.match_info["ticker"])
        return web.json_response({"market": self.exchange.market_json(market, self.legacy_sdk)})

    async def h_orderbook(self, request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"]
        self._market(ticker)
        try:
            depth = int(request.query.get("depth", "0"))
        except ValueError:
            raise SimError(400, "invalid_parameters", "depth must be an integer") from None
        yes, no = self.exchange.bids(ticker)
        if depth > 0:
            yes, no = yes[-depth:], no[-depth:]
        dollars = {
            "yes_dollars": [[format_price(p), format_size(s, 2)] for p, s in yes],
            "no_dollars": [[format_price(p), format_size(s, 2)] for p, s in no],
        }
        legacy = {
            "yes": [[p // 100, s // SIZE_SCALE] for p, s in yes],
            "no": [[p // 100, s // SIZE_SCALE] for p, s in no],
        }
        return web.json_response({"orderbook": {**legacy, **dollars}, "orderbook_fp": dollars})

    async def h_series(self, request: web.Request) -> web.Response:
        """``GET /series/{series_ticker}`` with every field kalshi-python-sync 3.34.0's
        ``Series`` requires; ``fee_multiplier`` is the venue's multiplier on the schedule."""
        series = self.exchange.series.get(request.match_info["series"])
        if series is None:
            raise SimError(404, "not_found", f"series {request.match_info['series']} not found")
        return web.json_response({"series": series.json()})

    async def h_series_list(self, request: web.Request) -> web.Response:
        """``GET /series``: ``category`` matches any entry of ``categories`` (SDK docstring);
        ``min_updated_ts`` keeps series updated after that Unix second."""
        q = request.query
        rows = list(self.exchange.series.values())
        if q.get("category"):
            rows = [s for s in rows if q["category"] in s.json()["categories"]]
        if q.get("min_updated_ts"):
            since = _int_or_none(q["min_updated_ts"]) or 0
            rows = [s for s in rows if s.updated_s > since]
        extra = [] if q.get("category") or q.get("min_updated_ts") else self.catalogue.series
        return web.json_response({"series": [s.json() for s in rows] + extra})

    async def h_series_fee_changes(self, request: web.Request) -> web.Response:
        """``GET /series/fee_changes`` (SDK ``GetSeriesFeeChangesResponse``): none scheduled."""
        return web.json_response({"series_fee_change_arr": []})

    async def h_events(self, request: web.Request) -> web.Response:
        """``GET /events`` (cursor-paged, ``with_nested_markets``): the loaded catalogue's events,
        then one event per ``event_ticker`` of the traded markets (arbiter.sim.catalogue)."""
        live: dict[str, dict[str, Any]] = {}
        for m in self.exchange.markets.values():
            ev = live.setdefault(m.event_ticker, {
                "event_ticker": m.event_ticker, "series_ticker": m.series_ticker,
                "title": m.title, "sub_title": "", "mutually_exclusive": False,
                "category": self.exchange.series[m.series_ticker].category, "markets": []})
            ev["markets"].append(self.exchange.market_json(m))
        return web.json_response(self.catalogue.page(request.query, list(live.values())))

    async def h_event(self, request: web.Request) -> web.Response:
        """``GET /events/{event_ticker}``: what names an event's series (SDK ``EventData``)."""
        ticker = request.match_info["event"]
        markets = [m for m in self.exchange.markets.values() if m.event_ticker == ticker]
        if not markets:
            raise SimError(404, "not_found", f"event {ticker} not found")
        first = markets[0]
        event: dict[str, Any] = {
            "event_ticker": ticker,
            "series_ticker": first.series_ticker,
            "sub_title": "",
            "title": first.title,
            "collateral_return_type": "",
            "mutually_exclusive": False,
            "category": self.exchange.series[first.series_ticker].category,
            "settlement_sources": [],
        }
        override = self.exchange.event_fee_overrides.get(ticker)
        if override is not None:  # SDK EventData: fee_type_override / fee_multiplier_override
            fee_type, mult = override
            event["fee_type_override"] = fee_type
            event["fee_multiplier_override"] = (
                int(mult) if mult.denominator == 1 else float(mult))
        rows = [self.exchange.market_json(m) for m in markets]
        if request.query.get("with_nested_markets") == "true":
            event["markets"] = rows
        return web.json_response({"event": event, "markets": rows})

    # -- orders -------------------------------------------------------------------------------
    async def _json(self, request: web.Request, fields: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
        """The request's JSON object, its ``fields`` of the JSON types given (``None`` is
        absent); anything else is the venue's top-level ``bad_request``."""
        try:
            body = parse_json(await request.read())
        except BadInput as exc:
            self.stats["bad_input"] += 1
            raise SimError.bad_request(str(exc)) from None
        if not isinstance(body, dict):
            self.stats["bad_input"] += 1
            raise SimError.bad_request("request body must be a JSON object")
        for name, spec in (fields or {}).items():
            kinds = spec if isinstance(spec, tuple) else (spec,)
            value = body.get(name)
            if value is not None and ((isinstance(value, bool) and bool not in kinds)
                                      or not isinstance(value, kinds)):
                raise SimError.bad_request(f"{name}: wrong JSON type {type(value).__name__}")
        return body

    def _ticker_of(self, body: dict[str, Any]) -> str:
        ticker = body.get("ticker")
        if not isinstance(ticker, str) or not ticker:  # docs /getting_started/order_errors
            raise SimError(400, "missing_parameters", "missing parameters", "ticker")
        self._market(ticker)
        return ticker

    async def h_create_legacy(self, request: web.Request) -> web.Response:
        if not self.legacy_sdk:  # the live venue retired it (venues.md §0)
            raise SimError(410, "deprecated_v1_order_endpoint",
                           "use /portfolio/events/orders")
        body = await self._json(request, _LEGACY_CREATE)
        ticker = self._ticker_of(body)
        tick = self.exchange.markets[ticker].tick
        side, action = body.get("side"), body.get("action")
        if body.get("type") == "market":
            raise SimError(400, "invalid_order_type", "market orders are no longer offered")
        count = _count(body)
        yes_price = _legacy_yes_price(body, tick)
        price = yes_price if side == "yes" else PRICE_SCALE - yes_price
        tif = body.get("time_in_force") or "good_till_canceled"
        if body.get("buy_max_cost") is not None:
            tif = "fill_or_kill"
        sim, deltas = self.exchange.place(
            request[ACCOUNT], ticker, str(side), str(action), price, count,
            str(body.get("client_order_id") or f"auto-{time.time_ns()}"), tif,
            post_only=bool(body.get("post_only")),
            expiration_ts=_int_or_none(body.get("expiration_ts")),
        )
        self.publish(deltas)
        return web.json_response({"order": self.exchange.order_json(sim, True)}, status=201)

    async def h_create_v2(self, request: web.Request) -> web.Response:
        body = await self._json(request, _V2_CREATE)
        ticker = self._ticker_of(body)
        tick = self.exchange.markets[ticker].tick
        for req in ("side", "count", "price"):  # docs /getting_started/order_errors
            if body.get(req) in (None, ""):
                raise SimError(400, "invalid_order", "invalid order", f"{req} is required")
        side = body.get("side")
        if side not in ("bid", "ask"):
            raise SimError(400, "invalid_parameters", "side must be bid or ask")
        if body.get("client_order_id") in (None, ""):
            raise SimError(400, "invalid_parameters", "client_order_id is required")
        try:
            price = parse_price(str(body["price"]), tick)
        except UnitError as exc:
            raise SimError(400, "invalid_price", str(exc)) from None
        count = _count(body)
        shard = _int_or_none(body.get("exchange_index"))
        market_shard = self.exchange.markets[ticker].exchange_index
        if shard not in (None, -1, market_shard):  # omitted or -1: auto-route by ticker
            raise SimError(400, "invalid_parameters",
                           f"market {ticker} is on exchange index {market_shard}, not {shard}")
        sim, deltas = self.exchange.place(
            request[ACCOUNT], ticker, "yes", "buy" if side == "bid" else "sell", price, count,
            str(body["client_order_id"]), str(body.get("time_in_force") or "good_till_canceled"),
            post_only=bool(body.get("post_only")),
            expiration_ts=_int_or_none(body.get("expiration_time")),
        )
        self.publish(deltas)
        e = sim.engine
        out: dict[str, Any] = {
            "order_id": sim.order_id,
            "client_order_id": sim.client_order_id,
            "fill_count": format_size(e.filled, 2),
            "remaining_count": format_size(e.remaining, 2),
            "ts_ms": int(sim.updated_s * 1000),
        }
        if e.filled:
            # computed values carry up to 6 decimals (docs fixed_point_migration): a fill over
            # two levels averages e.g. "0.413333"; 4 decimals when exact. Rounding to nearest
            # is this simulator's choice (the venue's rounding mode is unconfirmed).
            cost = sim.taker_cost + sim.maker_cost
            out["average_fill_price"] = _avg6(cost * SIZE_SCALE, e.filled)
            out["average_fee_paid"] = _avg6(sim.taker_fees * SIZE_SCALE, e.filled)
        if self.corrupt_next_create:  # test control: one unreadable answer after the effect
            out.update(self.corrupt_next_create)
            self.corrupt_next_create = {}
        return web.json_response(out, status=201)

    async def h_cancel_legacy(self, request: web.Request) -> web.Response:
        if not self.legacy_sdk:
            raise SimError(410, "deprecated_v1_order_endpoint",
                           "use /portfolio/events/orders/{order_id}")
        sim, reduced, deltas = self.exchange.cancel(
            request[ACCOUNT], request.match_info["order_id"]
        )
        self.publish(deltas)
        return web.json_response({
            "order": self.exchange.order_json(sim, True),
            "reduced_by": reduced // SIZE_SCALE,
            "reduced_by_fp": format_size(reduced, 2),
        })

    async def h_cancel_v2(self, request: web.Request) -> web.Response:
        """Cancel on the shard the request routes to: ``exchange_index`` if given (not -1),
        else the shard of ``market_ticker``, else shard 0 (SDK 3.34.0 ``cancel_order_v2``).
        An order of another shard's market is not on that matching engine: 404."""
        q = request.query
        order_id = request.match_info["order_id"]
        shard = _int_or_none(q.get("exchange_index"))
        if shard is None or shard == -1:
            ticker = q.get("market_ticker")
            if ticker:
                shard = self._market(ticker).exchange_index
            elif shard == -1:
                raise SimError(400, "invalid_parameters", "auto-routing needs market_ticker")
            else:
                shard = 0
        own = self.exchange.orders.get(order_id)
        if own is not None and own.shard != shard:
            raise SimError(404, "not_found", f"order {order_id} not found on exchange index "
                           f"{shard}")
        sim, reduced, deltas = self.exchange.cancel(request[ACCOUNT], order_id)
        self.publish(deltas)
        return web.json_response({
            "order_id": sim.order_id,
            "client_order_id": sim.client_order_id,
            "reduced_by": format_size(reduced, 2),
            "ts_ms": int(sim.updated_s * 1000),
        })

    def _own_orders(self, account: str) -> list[SimOrder]:
        acct = self.exchange.accounts[account]
        return [self.exchange.orders[oid] for oid in reversed(acct.order_ids)]

    async def h_orders(self, request: web.Request) -> web.Response:
        q = request.query
        orders = self._own_orders(request[ACCOUNT])
        if q.get("ticker"):
            orders = [o for o in orders if o.ticker == q["ticker"]]
        if q.get("event_ticker"):
            ev = q["event_ticker"]
            orders = [o for o in orders if self.exchange.markets[o.ticker].event_ticker == ev]
        if q.get("status"):
            orders = [o for o in orders if o.status == q["status"]]
        min_ts, max_ts = _int_or_none(q.get("min_ts") or None), _int_or_none(
            q.get("max_ts") or None)
        if min_ts is not None:
            orders = [o for o in orders if o.created_s >= min_ts]
        if max_ts is not None:
            orders = [o for o in orders if o.created_s <= max_ts]
        if q.get("exchange_index"):
            shard = _int_or_none(q["exchange_index"])
            orders = [o for o in orders if o.shard == shard]
        page, cursor = _page(orders, q)
        return web.json_response({
            "orders": [self.exchange.order_json(o, self.legacy_sdk) for o in page],
            "cursor": cursor,
        })

    async def h_order(self, request: web.Request) -> web.Response:
        sim = self.exchange.orders.get(request.match_info["order_id"])
        if sim is None or sim.account != request[ACCOUNT]:
            raise SimError(404, "not_found", "order not found")
        return web.json_response({"order": self.exchange.order_json(sim, self.legacy_sdk)})

    async def h_balance(self, request: web.Request) -> web.Response:
        """Available balance, all shards or the ``exchange_index`` one, with the per-shard
        ``balance_breakdown`` (SDK 3.34.0 ``GetBalanceResponse``/``IndexedBalance``)."""
        acct = self.exchange.accounts[request[ACCOUNT]]
        shard = _int_or_none(request.query.get("exchange_index"))
        shards = sorted(set(acct.shard_cash) | {
            m.exchange_index for m in self.exchange.markets.values()})
        scope = shards if shard is None else [shard]
        available = sum(acct.available_on(i) for i in scope)
        value = sum(p.cost for t, p in acct.positions.items()
                    if self.exchange.markets[t].exchange_index in scope)
        cents = available // CENT
        return web.json_response({
            "balance": cents,
            "balance_dollars": format_money(cents * CENT, 2),
            "portfolio_value": value // CENT,
            "updated_ts": int(time.time()),
            "balance_breakdown": [
                {"exchange_index": i,
                 "balance": format_money(acct.available_on(i) // CENT * CENT, 2)}
                for i in shards
            ],
        })

    async def h_transfer(self, request: web.Request) -> web.Response:
        """``POST /portfolio/intra_exchange_instance_transfer``: move collateral between shards
        at once (docs /getting_started/exchange_sharding). Body as SDK 3.34.0
        ``IntraExchangeInstanceTransferRequest``."""
        body = await self._json(request, {
            "amount": int, "source": str, "destination": str, "source_exchange_shard": int,
            "destination_exchange_shard": int})
        amount = body.get("amount")  # centicents ($0.0001)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise SimError(400, "invalid_parameters", "amount must be a positive integer "
                           "number of centicents")
        if body.get("source") != "event_contract" or body.get("destination") != "event_contract":
            raise SimError(400, "invalid_parameters",
                           "only event_contract to event_contract transfers are simulated")
        source = _int_or_none(body.get("source_exchange_shard")) or 0
        destination = _int_or_none(body.get("destination_exchange_shard")) or 0
        self.exchange.transfer(request[ACCOUNT], source, destination,
                               amount * (CENT // 100))
        return web.json_response({"transfer_id": f"tr-{time.time_ns()}"})

    async def h_positions(self, request: web.Request) -> web.Response:
        q = request.query
        acct = self.exchange.accounts[request[ACCOUNT]]
        resting: dict[str, int] = {}
        for oid in acct.order_ids:
            o = self.exchange.orders[oid]
            if o.engine.is_open:
                resting[o.ticker] = resting.get(o.ticker, 0) + 1
        rows = []
        for ticker in sorted(set(acct.positions) | set(resting)):
            if q.get("ticker") and ticker != q["ticker"]:
                continue
            pos = acct.positions.get(ticker)
            if pos is None:
                pos = Position()
            if q.get("exchange_index") and self.exchange.markets[ticker].exchange_index != (
                    _int_or_none(q["exchange_index"])):
                continue
            rows.append(self.exchange.position_json(ticker, pos, resting.get(ticker, 0),
                                                    self.legacy_sdk))
        page, cursor = _page(rows, q)
        return web.json_response({
            "market_positions": page,
            "event_positions": self.exchange.event_positions_json(acct, self.legacy_sdk),
            "cursor": cursor,
        })

    async def h_fills(self, request: web.Request) -> web.Response:
        q = request.query
        fills = list(reversed(self.exchange.accounts[request[ACCOUNT]].fills))
        if q.get("ticker"):
            fills = [f for f in fills if f["ticker"] == q["ticker"]]
        if q.get("order_id"):
            fills = [f for f in fills if f["order_id"] == q["order_id"]]
        min_ts, max_ts = _int_or_none(q.get("min_ts") or None), _int_or_none(
            q.get("max_ts") or None)
        if min_ts is not None:
            fills = [f for f in fills if f["ts"] >= min_ts]
        if max_ts is not None:
            fills = [f for f in fills if f["ts"] <= max_ts]
        if q.get("exchange_index"):
            shard = _int_or_none(q["exchange_index"])
            fills = [f for f in fills if f["exchange_index"] == shard]
        page, cursor = _page(fills, q)
        return web.json_response({
            "fills": [self.exchange.fill_json(f, self.legacy_sdk) for f in page],
            "cursor": cursor,
        })

    # -- WebSocket ----------------------------------------------------------------------------
    async def h_ws(self, request: web.Request) -> web.StreamResponse:
        try:
            account = self._authenticate(request, required=self.ws_auth_required)
        except SimError as exc:
            self.stats["auth_failures"] += 1
            return web.json_response(exc.body(), status=401)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        conn = Connection(ws, account, transport=request.transport)
        self._conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        pinger = asyncio.create_task(self._pinger(conn))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._command_guarded(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    # commands are JSON text (docs /websockets); what else arrives is a message
                    # the venue cannot process, answered like unparseable text (code 1)
                    self.stats["ws_bad_frames"] += 1
                    self._reply_error(conn, None, 1, "Unable to process message")
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            conn.closed = True
            conn.wake.set()
            self._drop_conn(conn)
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pinger
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        return ws

    def _drop_conn(self, conn: Connection) -> None:
        self._conns.discard(conn)
        for sub in conn.subs.values():
            self._unindex(sub, sub.tickers)
        conn.subs.clear()

    async def _pinger(self, conn: Connection) -> None:
        while not conn.closed:
            await asyncio.sleep(self.ping_interval_s)
            with contextlib.suppress(Exception):
                await conn.ws.ping(b"heartbeat")

    async def _writer(self, conn: Connection) -> None:
        """Drain a connection's queue; batches go out as pre-framed bytes in one write.

        Server-to-client text frames are unmasked and trivial to frame (RFC 6455 §5.2), and one
        ``transport.write`` per batch instead of one ``send_str`` per message is what lets the
        local venue outrun the client in the feed benchmark. Per-frame sends remain for the
        latency and disconnect faults, which act between frames.
        """
        ws = conn.ws
        faults = self.faults
        try:
            while True:
                await conn.wake.wait()
                conn.wake.clear()
                frames, conn.pending = conn.pending, []
                if not frames and not conn.closed:  # the publisher wrote them (_flush)
                    continue
                frames = faults.shape_frames(frames)
                transport = conn.transport
                if transport is not None and not faults.between_frames and not conn.closed:
                    if transport.is_closing():
                        return
                    self.stats["ws_frames"] += len(frames)  # written at once by write_batch
                    if not await write_batch(transport, frames):
                        return
                    continue
                for frame in frames:
                    if faults.latency_ms:
                        await faults.delay()
                    await ws.send_str(frame)
                    self.stats["ws_frames"] += 1
                    if faults.take_disconnect():
                        conn.closed = True
                        break
                if conn.closed:
                    await ws.close()
                    return
        except (ConnectionError, RuntimeError):
            conn.closed = True

    def _reply_error(self, conn: Connection, cmd_id: Any, code: int, text: str) -> None:
        conn.push(json.dumps({"id": cmd_id, "type": "error", "msg": {"code": code, "msg": text}}))

    def _index(self, sub: Subscription, tickers: Iterable[str]) -> None:
        index = {"orderbook_delta": self._ticker_subs, "ticker": self._quote_subs}.get(sub.channel)
        if index is None:
            return
        for t in tickers:
            index.setdefault(t, []).append(sub)
            if sub.channel == "ticker":
                self._last_top.pop(t, None)  # a new subscriber gets the current top next

    def _unindex(self, sub: Subscription, tickers: Iterable[str]) -> None:
        index = {"orderbook_delta": self._ticker_subs, "ticker": self._quote_subs}.get(sub.channel)
        if index is None:
            return
        for t in tickers:
            subs = index.get(t)
            if subs and sub in subs:
                subs.remove(sub)
            if not subs:
                index.pop(t, None)

    def _command_guarded(self, conn: Connection, text: str) -> None:
        """One command frame; whatever is wrong with it is answered with the venue's error
        frame ``{"id", "type": "error", "msg": {"code", "msg"}}`` (docs ``/websockets``,
        AsyncAPI error codes; venues.md §1.8), never by ending the connection."""
        try:
            self._command(conn, text)
        except _WsParamError as exc:
            self.stats["ws_bad_frames"] += 1
            self._reply_error(conn, exc.cmd_id, exc.code, exc.text)
        except _INPUT_ERRORS as exc:  # an unchecked shape: still the venue's generic answer
            self.stats["ws_bad_frames"] += 1
            self.stats["unhandled_input"] += 1
            kind = ("ws", type(exc).__name__)
            if kind not in self._logged_kinds:
                self._logged_kinds.add(kind)
                log.warning("local Kalshi: unchecked WebSocket command shape: %s", kind[1])
            self._reply_error(conn, None, 1, "Unable to process message")

    def _command(self, conn: Connection, text: str) -> None:
        try:
            cmd = parse_json(text)
        except BadInput:
            cmd = None
        if not isinstance(cmd, dict):
            raise _WsParamError(None, 1, "Unable to process message")
        cmd_id = cmd.get("id")
        if cmd_id is not None and (isinstance(cmd_id, bool) or not isinstance(cmd_id, int)):
            raise _WsParamError(None, 1, "Unable to process message")  # ids are integers
        name = cmd.get("cmd")
        params = cmd.get("params")
        if name == "list_subscriptions":
            for sub in conn.subs.values():
                conn.push(json.dumps({"id": cmd_id, "type": "ok", "msg": {
                    "sid": sub.sid, "channel": sub.channel, "market_tickers": sorted(sub.tickers)}}))
            return
        if not isinstance(params, dict):
            self._reply_error(conn, cmd_id, 2, "Params required")
            return
        if name == "subscribe":
            self._subscribe(conn, cmd_id, params)
        elif name == "unsubscribe":
            sids = params.get("sids")
            if not isinstance(sids, list) or not sids:
                self._reply_error(conn, cmd_id, 4, "Subscription IDs required")
                return
            for sid in sids:
                known = isinstance(sid, int) and sid in conn.subs
                gone = conn.subs.pop(sid) if known else None
                if gone is None:
                    self._reply_error(conn, cmd_id, 7, "Unknown subscription ID")
                    continue
                self._unindex(gone, gone.tickers)
                conn.push(json.dumps({"id": cmd_id, "sid": sid, "seq": gone.seq + 1,
                                      "type": "unsubscribed"}))
        elif name == "update_subscription":
            self._update(conn, cmd_id, params)
        else:
            self._reply_error(conn, cmd_id, 5, "Unknown command")

    def _tickers_param(self, params: dict[str, Any], cmd_id: Any = None) -> list[str]:
        tickers = params.get("market_tickers") or params.get("market_ids") or []
        one = params.get("market_ticker") or params.get("market_id")
        if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers) or (
                one and not isinstance(one, str)):
            raise _WsParamError(cmd_id, 11, "Invalid parameter")
        if one:
            tickers = [*tickers, one]
        return list(tickers)

    def _subscribe(self, conn: Connection, cmd_id: Any, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            self._reply_error(conn, cmd_id, 3, "Channels required")
            return
        tickers = self._tickers_param(params, cmd_id)
        for channel in channels:
            if not isinstance(channel, str) or channel not in KNOWN_CHANNELS:
                shown = channel[:100] if isinstance(channel, str) else ""
                self._reply_error(conn, cmd_id, 8, f"Unknown channel name {shown}".strip())
                continue
            if channel in PRIVATE_CHANNELS and conn.account is None:
                self._reply_error(conn, cmd_id, 9, "Authentication required")
                continue
            if channel not in SIMULATED_CHANNELS:
                self._reply_error(conn, cmd_id, 10, f"Channel {channel} is not simulated")
                continue
            if channel == "orderbook_delta":
                if not tickers:
                    self._reply_error(conn, cmd_id, 14, "Market ticker required")
                    continue
                unknown = [t for t in tickers if t not in self.exchange.markets]
                if unknown:
                    self._reply_error(conn, cmd_id, 16, f"Market not found: {unknown[0]}")
                    continue
            self._next_sid += 1
            sub = Subscription(self._next_sid, channel, conn, set(tickers))
            conn.subs[sub.sid] = sub
            conn.push(json.dumps({"id": cmd_id, "type": "subscribed",
                                  "msg": {"channel": channel, "sid": sub.sid}}))
            if channel == "orderbook_delta":
                for t in tickers:
                    conn.push(self._snapshot_frame(sub, t))
            self._index(sub, tickers)
            if channel == "ticker":
                self._publish_tickers(tickers, int(time.time() * 1000))

    def _update(self, conn: Connection, cmd_id: Any, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        sid = params.get("sid")
        if sid is None and isinstance(sids, list):
            if len(sids) != 1:
                self._reply_error(conn, cmd_id, 12, "Exactly one subscription ID is required")
                return
            sid = sids[0]
        sub = conn.subs.get(sid) if isinstance(sid, int) else None
        if sub is None:
            self._reply_error(conn, cmd_id, 7, "Unknown subscription ID")
            return
        action = params.get("action")
        tickers = self._tickers_param(params, cmd_id)
        if action == "add_markets":
            unknown = [t for t in tickers if t not in self.exchange.markets]
            if unknown:
                self._reply_error(conn, cmd_id, 16, f"Market not found: {unknown[0]}")
                return
            new = [t for t in tickers if t not in sub.tickers]
            sub.tickers.update(new)
            conn.push(json.dumps({"id": cmd_id, "sid": sub.sid, "seq": self._next_seq(sub),
                                  "type": "ok", "msg": {"market_tickers": sorted(sub.tickers)}}))
            for t in new:
                conn.push(self._snapshot_frame(sub, t))
            self._index(sub, new)
        elif action == "delete_markets":
            gone = [t for t in tickers if t in sub.tickers]
            sub.tickers.difference_update(gone)
            self._unindex(sub, gone)
            conn.push(json.dumps({"id": cmd_id, "sid": sub.sid, "seq": self._next_seq(sub),
                                  "type": "ok", "msg": {"market_tickers": sorted(sub.tickers)}}))
        elif action == "get_snapshot":
            for t in sorted(tickers or sub.tickers):
                if t in sub.tickers:
                    conn.push(self._snapshot_frame(sub, t))
        elif action is None:
            self._reply_error(conn, cmd_id, 15, "Action required")
        else:
            self._reply_error(conn, cmd_id, 13, "Unsupported action")

    # -- admin (test controls) -----------------------------------------------------------------
    async def h_admin_faults(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        try:
            if body.get("reset"):
                self.faults.reset()
            self.faults.update({k: v for k, v in body.items() if k != "reset"})
        except (SimConfigError, ValueError, TypeError, OverflowError) as exc:
            return _err(400, "invalid_parameters", str(exc)[:200])
        return web.json_response({"ok": True})

    async def h_admin_settle(self, request: web.Request) -> web.Response:
        body = await self._json(request, {"ticker": str, "result": str})
        try:
            self.settle(str(body.get("ticker")), str(body.get("result")))
        except SimError as exc:
            return web.json_response(exc.body(), status=exc.status)
        return web.json_response({"ok": True})

    async def h_admin_corrupt_create(self, request: web.Request) -> web.Response:
        self.corrupt_next_create = await self._json(request)
        return web.json_response({"ok": True})

    async def h_admin_market(self, request: web.Request) -> web.Response:
        """``{"ticker", "action": "deactivate" | "activate" | "close"}``: lifecycle changes."""
        body = await self._json(request, {"ticker": str, "action": str})
        try:
            self.lifecycle(str(body.get("ticker")), str(body.get("action")))
        except SimError as exc:
            return web.json_response(exc.body(), status=exc.status)
        return web.json_response({"ok": True})

    # -- lifecycle (docs /getting_started/market_lifecycle, channel market_lifecycle_v2) --------
    def settle(self, ticker: str, result: str) -> None:
        """Settle like the venue: orders cancelled, positions paid, ``determined`` + ``settled``."""
        deltas = self.exchange.settle(ticker, result)
        self.publish(deltas)
        self.publish_lifecycle(self.exchange.settle_events(ticker, result))

    def lifecycle(self, ticker: str, action: str) -> None:
        deltas: list[BookDelta] = []
        if action == "deactivate":
            events = self.exchange.deactivate(ticker)
        elif action == "activate":
            events, deltas = self.exchange.activate(ticker)
        elif action == "close":
            events, deltas = self.exchange.close(ticker)
        else:
            raise SimError(400, "invalid_parameters", f"unknown lifecycle action {action!r}")
        self.publish(deltas)
        self.publish_lifecycle(events)

    def publish_lifecycle(self, events: Iterable[dict[str, Any]],
                          kind: str = "market_lifecycle_v2") -> None:
        """``market_lifecycle_v2`` goes to every subscriber (the channel takes no market filter);
        ``kind`` is the message type (the channel also carries ``event_fee_update``)."""
        for msg in events:
            for conn in list(self._conns):
                for sub in conn.subs.values():
                    if sub.channel == "market_lifecycle_v2":
                        conn.push(json.dumps({"type": kind, "sid": sub.sid,
                                              "seq": self._next_seq(sub), "msg": msg}))

    def set_event_fees(self, event_ticker: str, fee_type: str | None,
                       multiplier: str | Fraction | None = None) -> None:
        """Set (or, with ``None``, clear) an event's fee override, as the venue's operators do,
        and announce it: ``event_fee_update`` on ``market_lifecycle_v2`` with ``event_ticker``,
        ``fee_type_override`` and ``fee_multiplier_override`` (both ``null`` when cleared; docs
        ``/websockets/market-and-event-lifecycle``, AsyncAPI ``eventFeeUpdatePayload``).
        ``GET /events/{e}`` serves the new override from then on. An override names both
        fields here (the venue's REST ``EventData`` may carry either; ours always both)."""
        if not any(m.event_ticker == event_ticker for m in self.exchange.markets.values()):
            raise SimError(404, "not_found", f"event {event_ticker} not found")
        if fee_type is None:
            self.exchange.event_fee_overrides.pop(event_ticker, None)
            msg: dict[str, Any] = {"event_ticker": event_ticker, "fee_type_override": None,
                                   "fee_multiplier_override": None}
        else:
            mult = Fraction(multiplier if multiplier is not None else "1")
            self.exchange.event_fee_overrides[event_ticker] = (fee_type, mult)
            msg = {"event_ticker": event_ticker, "fee_type_override": fee_type,
                   "fee_multiplier_override": int(mult) if mult.denominator == 1
                   else float(mult)}
        self.publish_lifecycle([msg], kind="event_fee_update")

    async def h_admin_event_fee(self, request: web.Request) -> web.Response:
        """``POST /_sim/event_fee {"event_ticker", "fee_type_override",
        "fee_multiplier_override"}`` (test control): see :meth:`set_event_fees`."""
        body = await self._json(request, {"event_ticker": str, "fee_type_override": str,
                                          "fee_multiplier_override": (int, float, str)})
        mult = body.get("fee_multiplier_override")
        try:
            self.set_event_fees(str(body.get("event_ticker")), body.get("fee_type_override"),
                                None if mult is None else str(mult))
        except SimError as exc:
            return web.json_response(exc.body(), status=exc.status)
        except (ValueError, ZeroDivisionError):
            return _err(400, "invalid_parameters", f"bad fee_multiplier_override {mult!r:.40}")
        return web.json_response({"ok": True})

    async def h_admin_exchange(self, request: web.Request) -> web.Response:
        body = await self._json(request, {"trading_active": bool})
        if "trading_active" in body:
            self.exchange.trading_active = bool(body["trading_active"])
        return web.json_response({"trading_active": self.exchange.trading_active})

    async def h_admin_firehose(self, request: web.Request) -> web.Response:
        """Publish ``count`` synthetic +/-1 contract deltas at the edges of the ladders.

        They come in pairs that cancel out, so a client's books still match the venue's at the
        end: a benchmark load that exercises the real publish path without moving the market.
        """
        body = await self._json(request, {"count": int, "tickers": list})
        count = body.get("count", 100_000)
        if not 0 <= count <= MAX_FIREHOSE:
            return _err(400, "invalid_parameters", f"count must be 0..{MAX_FIREHOSE}")
        tickers = [t for t in body.get("tickers") or list(self.exchange.markets)
                   if isinstance(t, str) and t in self.exchange.markets]
        self._tasks.append(asyncio.create_task(self._firehose(count, tickers)))
        return web.json_response({"ok": True, "count": count})

    async def _firehose(self, count: int, tickers: list[str]) -> None:
        sent = 0
        i = 0
        one = SIZE_SCALE
        while sent < count and tickers:
            batch: list[BookDelta] = []
            for _ in range(min(1000, count - sent) // 2):
                t = tickers[i % len(tickers)]
                tick = self.exchange.markets[t].tick
                side = "yes" if i % 2 == 0 else "no"
                price = tick * (1 + (i // 2) % 3)
                batch.append((t, side, price, one))
                batch.append((t, side, price, -one))
                i += 1
            if not batch:
                break
            sent += len(batch)
            self.publish(batch)
            # let writers drain: never let a connection's backlog run away
            while any(len(c.pending) > 20_000 for c in self._conns):
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)

    async def h_admin_state(self, request: web.Request) -> web.Response:
        books = {}
        for t in self.exchange.markets:
            yes, no = self.exchange.bids(t)
            books[t] = {"yes": [[format_price(p), format_size(s, 2)] for p, s in yes],
                        "no": [[format_price(p), format_size(s, 2)] for p, s in no]}
        return web.json_response({"books": books, "stats": self.stats,
                                  "connections": len(self._conns)})


# -- helpers -------------------------------------------------------------------------------------


class _WsParamError(Exception):
    """A command the venue answers with an error frame (AsyncAPI error ``code``)."""

    def __init__(self, cmd_id: Any, code: int, text: str) -> None:
        super().__init__(text)
        self.cmd_id, self.code, self.text = cmd_id, code, text



#: JSON types of the create bodies' fields (SDK 3.34.0 ``CreateOrderV2Request`` and the
#: legacy ``CreateOrderRequest``; counts and prices in either documented form): a field of
#: another type is a body the venue cannot parse, its top-level ``bad_request``
#: (docs.kalshi.com ``/getting_started/order_errors``). ``None`` counts as absent.
_V2_CREATE: Final[Mapping[str, Any]] = {
    "ticker": str, "client_order_id": str, "side": str, "count": (str, int), "count_fp": str,
    "price": (str, int, float), "time_in_force": str, "post_only": bool, "reduce_only": bool,
    "cancel_order_on_pause": bool, "self_trade_prevention_type": str, "subaccount": int,
    "exchange_index": int, "expiration_time": int, "order_group_id": str,
}
_LEGACY_CREATE: Final[Mapping[str, Any]] = {
    "ticker": str, "client_order_id": str, "side": str, "action": str, "type": str,
    "count": (str, int), "count_fp": str, "time_in_force": str, "post_only": bool,
    "expiration_ts": int, "buy_max_cost": int, "sell_position_floor": int,
}
#: ``GET /markets?status=`` values -> market statuses (docs /getting_started/market_lifecycle)
_STATUS_FILTER: Final = {
    "unopened": {"initialized"}, "open": {"active"}, "paused": {"inactive"},
    "closed": {"closed", "determined", "disputed", "amended"}, "settled": {"finalized"},
}


def _fault_response(status: int) -> web.Response:
    if status == 429:
        return web.json_response({"error": "too many requests"}, status=429)
    return _err(status, "internal_server_error" if status >= 500 else "injected_fault",
                f"injected fault {status}")


def _avg6(total_money_x_size: int, count: int) -> str:
    """An average per contract (Money x size units / size units), to 6 decimals, nearest."""
    step = 10**4  # Money units of $0.000001
    units = (2 * total_money_x_size // count + step) // (2 * step)
    places = 4 if units % 100 == 0 else 6
    return format_money(units * step, places)


def _page(items: list[Any], q: Any) -> tuple[list[Any], str]:
    try:
        limit = max(1, min(1000, int(q.get("limit", "100"))))
        start = int(q.get("cursor") or "0")
    except ValueError:
        raise SimError(400, "invalid_parameters", "bad limit or cursor") from None
    page = items[start:start + limit]
    end = start + limit
    return page, (str(end) if end < len(items) else "")


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise SimError(400, "invalid_parameters", f"not an integer: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise SimError(400, "invalid_parameters", f"not an integer: {str(value)[:40]!r}") from None


def _count(body: dict[str, Any]) -> int:
    raw = body.get("count_fp", body.get("count"))
    try:
        if isinstance(raw, bool) or raw is None:
            raise UnitError("count is required")
        if isinstance(raw, int):
            if raw < 1:
                raise UnitError("count must be >= 1")
            count = raw * SIZE_SCALE
        else:
            count = parse_size(str(raw), 2)
    except UnitError as exc:
        raise SimError(400, "invalid_count", str(exc)) from None
    legacy, fp = body.get("count"), body.get("count_fp")
    if isinstance(legacy, int) and fp is not None and legacy * SIZE_SCALE != count:
        raise SimError(400, "invalid_count", "count and count_fp disagree")
    return count


def _legacy_yes_price(body: dict[str, Any], tick: int) -> int:
    """The YES price of a legacy create: exactly one of the four price fields (§1.6.2)."""
    forms = {k: body.get(k) for k in ("yes_price", "no_price", "yes_price_dollars",
                                      "no_price_dollars") if body.get(k) is not None}
    sides = {k.split("_")[0] for k in forms}
    if len(sides) != 1:
        raise SimError(400, "invalid_price", "give exactly one of yes_price / no_price")
    try:
        values = set()
        for k, v in forms.items():
            if k.endswith("_dollars"):
                p = parse_price(str(v), tick)
            else:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise UnitError(f"{k} must be an integer number of cents")
                p = price_from_cents(v)
            values.add(p if k.startswith("yes") else PRICE_SCALE - p)
    except UnitError as exc:
        raise SimError(400, "invalid_price", str(exc)) from None
    if len(values) != 1:
        raise SimError(400, "invalid_price", "integer and dollar prices disagree")
    return values.pop()


# -- construction from the command line ---------------------------------------------------------


def build_sim(
    accounts_path: str,
    scenario: ScenarioSpec | None,
    seed: int = 0,
    **options: Any,
) -> KalshiSim:
    """Exchange + accounts from ACCOUNTS.toml (public keys only) + scenario makers."""
    exchange = Exchange(seed=seed)
    for entry in load_accounts(accounts_path):
        key_id = entry.string("api_key_id")
        public = load_public_key(entry.read_text("public_key"), f"public key of {key_id}")
        exchange.add_account(key_id, public, entry.money("cash", "0"))
    return KalshiSim(exchange, scenario, seed=seed, **options)
