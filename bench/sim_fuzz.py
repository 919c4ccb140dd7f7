"""The local venues under hostile input: no 5xx, the venue's error shape, no WS handler crash.

``python -m bench.sim_fuzz [--json] [--requests N] [--frames N] [--seed S]
[--venue kalshi|polymarket|all]``

Both local venues run in this process (:class:`~arbiter.sim.launcher.LocalVenues`, the launcher
the demo and the engine tests use) and get, per venue:

* ``--requests`` hostile HTTP requests (default 5,000): every route of the venue's router with
  hostile path parameters, hostile query values (``min_ts=abc``, ``limit=1e9``, ...), hostile
  bodies (the feed fuzzer's :func:`bench.fuzz.mutate` applied to real request bodies: nesting
  bombs, wrong JSON types, arrays for objects, truncation, byte damage) and, for one request in
  ten, hostile authentication headers. Trading requests are signed correctly otherwise, so the
  handler's own parsing is what is tested, not only the auth check in front of it.
* ``--frames`` hostile WebSocket frames (default 20,000) over long-lived connections (Kalshi
  ``/trade-api/ws/v2``; Polymarket ``/ws/market`` and ``/ws/user``): mutated commands and
  subscriptions, non-JSON text, binary frames.

It reports, per venue and route: the statuses seen, ``5xx`` (must be 0), ``bad_shape`` (an error
answer that is not the venue's error body: must be 0), and for the WebSocket: ``crashes``
(exceptions the server logged from a handler: must be 0), ``dropped`` (a connection the server
ended without the venue's own close: must be 0), ``venue_closes`` (closes the venue itself
makes, e.g. Polymarket's 1008 on an invalid first subscription) and ``error_frames``.
Exit status 1 when a must-be-0 count is not 0. ``--json`` prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.fuzz import mutate

#: hostile values for a query parameter or a path segment
HOSTILE_TEXT: tuple[str, ...] = (
    "", " ", "abc", "-1", "0", "1e9", "1e999", "NaN", "inf", "-0", "0x10", "1.5", "9" * 400,
    "%00", "\u202e", "null", "true", "[]", "{}", "../../etc/passwd", "'; DROP TABLE", "a" * 1500,
    "-99999999999999999999", "LTE=", "MA==", "!!", "\ud7ff", "1,2,3", "BUY", "yes",
)
#: query parameters either venue reads somewhere (a hostile value is set on a few at random)
KALSHI_QUERY = ("limit", "cursor", "depth", "min_ts", "max_ts", "exchange_index", "status",
                "tickers", "ticker", "event_ticker", "series_ticker", "with_nested_markets",
                "category", "min_updated_ts", "market_ticker", "order_id", "series_tickers",
                "include_product_metadata")
POLY_QUERY = ("token_id", "side", "next_cursor", "id", "market", "asset_id", "after", "before",
              "signature_type", "asset_type", "address", "type", "limit", "offset", "closed",
              "active", "order", "ascending", "slug", "tag_id")
HOSTILE_BYTES: tuple[bytes, ...] = (
    b"", b"\xff\xfe\x00", b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"null",
    b"[]", b"[1,2]", b'"text"', b"1e999999", b"{", b"\x00" * 64, b'{"x": NaN}',
)


@dataclass
class RouteStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    bad_shape: int = 0
    examples: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {"requests": self.requests, "5xx": self.server_errors,
                "bad_shape": self.bad_shape,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                **({"examples": [e[:200] for e in self.examples[:3]]} if self.examples else {})}

    @property
    def server_errors(self) -> int:
        return sum(v for k, v in self.statuses.items() if k >= 500)


class CrashCounter(logging.Handler):
    """Counts what aiohttp logs when a handler raises (``Error handling request``) by type."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        self.kinds[type(exc).__name__ if exc is not None else record.getMessage()[:60]] += 1


@dataclass
class Route:
    method: str
    path: str  # with {name} placeholders
    #: a correct body (JSON-serialisable or raw text) the mutations start from
    body: Any = None
    signed: bool = True

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def _fill(path: str, rng: random.Random, good: dict[str, str]) -> str:
    """Path placeholders: the real value mostly, a hostile one (percent-encoded) otherwise."""
    out = path
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        name = out[start + 1:end]
        value = good.get(name, "x") if rng.random() < 0.4 else rng.choice(HOSTILE_TEXT)
        out = out[:start] + (aiohttp.helpers.quote(value, safe="") or "x") + out[end + 1:]
    return out


def _query(rng: random.Random, names: tuple[str, ...]) -> dict[str, str]:
    if rng.random() < 0.25:
        return {}
    return {rng.choice(names): rng.choice(HOSTILE_TEXT) for _ in range(rng.randint(1, 4))}


def _body(rng: random.Random, route: Route) -> bytes | None:
    if route.body is None and rng.random() < 0.5:
        return None
    r = rng.random()
    if r < 0.15:
        return rng.choice(HOSTILE_BYTES)
    seed = json.dumps(route.body if route.body is not None else {}).encode()
    if r < 0.25:
        return seed
    return mutate(seed, rng)


# -- venue contexts -------------------------------------------------------------------------------


class Venue:
    """One local venue under test: its routes, how to sign, what its error bodies look like."""

    name = ""
    routes: list[Route]
    query_names: tuple[str, ...] = ()

    def __init__(self, base: str, admin_headers: dict[str, str]) -> None:
        self.base = base
        self.admin_headers = admin_headers
        self.good: dict[str, str] = {}

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        raise NotImplementedError

    def error_shape_ok(self, status: int, body: bytes) -> bool:
        raise NotImplementedError

    def hostile_auth(self, rng: random.Random, headers: dict[str, str]) -> dict[str, str]:
        key = rng.choice(list(headers) or ["x"])
        return {**headers, key: rng.choice(HOSTILE_TEXT)}


class KalshiVenue(Venue):
    name = "kalshi"
    query_names = KALSHI_QUERY
    ws_url = ""

    def ws_headers(self) -> dict[str, str]:
        return dict(self.signer.headers("GET", "/trade-api/ws/v2"))

    def __init__(self, base: str, admin_headers: dict[str, str], signer: Any,
                 ticker: str) -> None:
        super().__init__(base, admin_headers)
        self.signer = signer
        self.good = {"ticker": ticker, "series": ticker.split("-")[0],
                     "event": ticker.rsplit("-", 1)[0], "order_id": "nope"}
        p = "/trade-api/v2"
        create = {"ticker": ticker, "side": "bid", "count": "1.00", "price": "0.4000",
                  "client_order_id": "fuzz-1", "time_in_force": "good_till_canceled",
                  "exchange_index": 0}
        legacy = {"ticker": ticker, "side": "yes", "action": "buy", "count": 1, "yes_price": 40,
                  "client_order_id": "fuzz-2", "type": "limit"}
        self.routes = [
            Route("GET", f"{p}/exchange/status", signed=False),
            Route("GET", f"{p}/markets", signed=False),
            Route("GET", f"{p}/markets/{{ticker}}", signed=False),
            Route("GET", f"{p}/markets/{{ticker}}/orderbook", signed=False),
            Route("GET", f"{p}/series", signed=False),
            Route("GET", f"{p}/series/fee_changes", signed=False),
            Route("GET", f"{p}/series/{{series}}", signed=False),
            Route("GET", f"{p}/events", signed=False),
            Route("GET", f"{p}/events/{{event}}", signed=False),
            Route("POST", f"{p}/portfolio/orders", legacy),
            Route("POST", f"{p}/portfolio/events/orders", create),
            Route("GET", f"{p}/portfolio/orders"),
            Route("GET", f"{p}/portfolio/orders/{{order_id}}"),
            Route("DELETE", f"{p}/portfolio/orders/{{order_id}}"),
            Route("DELETE", f"{p}/portfolio/events/orders/{{order_id}}"),
            Route("POST", f"{p}/portfolio/intra_exchange_instance_transfer",
                  {"amount": 100, "source": "event_contract", "destination": "event_contract",
                   "source_exchange_shard": 0, "destination_exchange_shard": 1}),
            Route("GET", f"{p}/portfolio/balance"),
            Route("GET", f"{p}/portfolio/positions"),
            Route("GET", f"{p}/portfolio/fills"),
            Route("GET", f"{p}/nope", signed=False),
            Route("PUT", f"{p}/markets", signed=False),
            Route("POST", "/_sim/faults", {"drop_prob": 0.0}, signed=False),
            Route("POST", "/_sim/settle", {"ticker": ticker, "result": "yes"}, signed=False),
            Route("POST", "/_sim/market", {"ticker": ticker, "action": "activate"}, signed=False),
            Route("POST", "/_sim/event_fee", {"event_ticker": "X"}, signed=False),
            Route("POST", "/_sim/exchange", {"trading_active": True}, signed=False),
            Route("GET", "/_sim/state", signed=False),
            # (not /_sim/firehose: with the token, a hostile count is a load test, not a fuzz)
            Route("POST", "/_sim/corrupt_next_create", {"fill_count": "lots"}, signed=False),
        ]

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        return dict(self.signer.headers(method, path))

    def error_shape_ok(self, status: int, body: bytes) -> bool:
        """docs.kalshi.com /getting_started/order_errors: ``{"error": {"code", "message"}}``,
        or ``{"code", "message", "details"}`` at the top level for an unparseable body; 429
        ``{"error": "too many requests"}`` (venues.md §1.10)."""
        try:
            data = json.loads(body)
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        inner = data.get("error")
        if isinstance(inner, dict):
            return isinstance(inner.get("code"), str) and isinstance(inner.get("message"), str)
        if status == 429:
            return isinstance(inner, str)
        return isinstance(data.get("code"), str) and isinstance(data.get("message"), str)


class PolymarketVenue(Venue):
    name = "polymarket"
    query_names = POLY_QUERY
    ws_url = ""

    def __init__(self, base: str, admin_headers: dict[str, str], address: str,
                 creds: tuple[str, str, str], token: str, condition: str,
                 order_body: dict[str, Any]) -> None:
        super().__init__(base, admin_headers)
        self.address = address
        self.api_key, self.secret, self.passphrase = creds
        self.good = {"condition_id": condition, "token_id": token, "order_id": "0xnope"}
        auth = {"POLY_ADDRESS": address, "POLY_SIGNATURE": "0x" + "11" * 65,
                "POLY_TIMESTAMP": str(int(time.time())), "POLY_NONCE": "0"}
        self.l1 = auth
        cancel = {"orderID": "0xnope"}
        self.routes = [
            Route("GET", "/", signed=False), Route("GET", "/time", signed=False),
            Route("GET", "/version", signed=False),
            Route("GET", "/book", signed=False),
            Route("POST", "/books", [{"token_id": token}], signed=False),
            Route("GET", "/price", signed=False),
            Route("POST", "/prices", [{"token_id": token, "side": "BUY"}], signed=False),
            Route("GET", "/midpoint", signed=False), Route("GET", "/spread", signed=False),
            Route("GET", "/last-trade-price", signed=False),
            Route("GET", "/tick-size", signed=False), Route("GET", "/neg-risk", signed=False),
            Route("GET", "/fee-rate", signed=False), Route("GET", "/markets", signed=False),
            Route("GET", "/gamma/events", signed=False),
            Route("GET", "/gamma/markets", signed=False),
            Route("GET", "/markets/{condition_id}", signed=False),
            Route("GET", "/markets-by-token/{token_id}", signed=False),
            Route("GET", "/clob-markets/{condition_id}", signed=False),
            Route("POST", "/auth/api-key", signed=False),
            Route("GET", "/auth/derive-api-key", signed=False),
            Route("GET", "/auth/api-keys"),
            Route("POST", "/order", order_body),
            Route("POST", "/orders", [order_body]),
            Route("DELETE", "/order", cancel),
            Route("DELETE", "/orders", ["0xnope"]),
            Route("DELETE", "/cancel-all"),
            Route("DELETE", "/cancel-market-orders", {"market": condition}),
            Route("GET", "/data/orders"),
            Route("GET", "/data/order/{order_id}"),
            Route("GET", "/data/trades"),
            Route("GET", "/balance-allowance"),
            Route("GET", "/balance-allowance/update"),
            Route("GET", "/deployed", signed=False),
            Route("GET", "/nope", signed=False),
            Route("PATCH", "/order", signed=False),
            Route("POST", "/_sim/faults", {"drop_prob": 0.0}, signed=False),
            Route("POST", "/_sim/tick", {"token_id": token, "tick_size": "0.01"}, signed=False),
            Route("POST", "/_sim/mode", {"mode": "on"}, signed=False),
            Route("POST", "/_sim/fund", {"address": address, "collateral": "1"}, signed=False),
            Route("POST", "/_sim/market-feed", {"action": "books_limit", "limit": 100},
                  signed=False),
        ]

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        from arbiter.venues.polymarket.signing import hmac_signature

        ts = str(int(time.time()))
        raw_path = path.split("?", 1)[0]
        text = body.decode("utf-8", errors="replace") if body else None
        return {"POLY_ADDRESS": self.address, "POLY_API_KEY": self.api_key,
                "POLY_PASSPHRASE": self.passphrase, "POLY_TIMESTAMP": ts,
                "POLY_SIGNATURE": hmac_signature(self.secret, ts, method, raw_path, text)}

    def error_shape_ok(self, status: int, body: bytes) -> bool:
        """docs.polymarket.com /resources/error-codes: every CLOB error is ``{"error": str}``."""
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and isinstance(data.get("error"), str)


async def fuzz_http(venue: Venue, n: int, seed: int, admin: bool = False) -> dict[str, Any]:
    """``n`` hostile requests; ``admin``: only the ``/_sim/`` routes, with the admin token (so
    the test controls' own parsing is tried, not only the token check in front of it)."""
    rng = random.Random(f"{seed}:{venue.name}:{'admin' if admin else 'http'}")
    stats: dict[str, RouteStats] = {}
    timeout = aiohttp.ClientTimeout(total=30)
    routes = [r for r in venue.routes if r.path.startswith("/_sim/") or not admin]
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for i in range(n):
            route = rng.choice(routes)
            path = _fill(route.path, rng, venue.good)
            query = _query(rng, venue.query_names)
            body = _body(rng, route)
            if route.path.startswith("/_sim/") and rng.random() < 0.3:
                body = json.dumps(route.body).encode()  # a well-formed admin call, no token
            if route.signed:
                headers = venue.sign(route.method, path, body)
            else:
                headers = {}
                if rng.random() < 0.5 and isinstance(venue, PolymarketVenue):
                    headers = dict(venue.l1)
            if rng.random() < 0.1:
                headers = venue.hostile_auth(rng, headers)
            if admin:
                headers.update(venue.admin_headers)
            if body is not None and rng.random() < 0.9:
                headers["Content-Type"] = "application/json"
            st = stats.setdefault(route.name, RouteStats())
            st.requests += 1
            url = venue.base + path
            try:
                async with http.request(route.method, url, params=query, data=body,
                                        headers=headers) as resp:
                    data = await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                st.statuses[599] += 1
                st.examples.append(f"{route.method} {path} {query}: {type(exc).__name__}")
                continue
            st.statuses[status] += 1
            if status >= 500 and len(st.examples) < 3:
                st.examples.append(f"{route.method} {path} {query} {body!r:.120}: {status}")
            if status >= 400 and not venue.error_shape_ok(status, data):
                st.bad_shape += 1
                if len(st.examples) < 3:
                    st.examples.append(f"shape {status} {data[:120]!r} <- {route.method} {path}")
            if i % 500 == 499:
                await asyncio.sleep(0)
    routes = {k: v.json() for k, v in sorted(stats.items())}
    return {
        "requests": n,
        "5xx": sum(v.server_errors for v in stats.values()),
        "bad_shape": sum(v.bad_shape for v in stats.values()),
        "trading_5xx": sum(v.server_errors for k, v in stats.items()
                           if "/portfolio" in k or k.split()[1] in (
                               "/order", "/orders", "/cancel-all", "/cancel-market-orders",
                               "/data/orders", "/data/trades")),
        "routes": routes,
    }


# -- WebSocket -------------------------------------------------------------------------------------


def kalshi_frame_seeds(ticker: str) -> list[bytes]:
    """Commands in the venue's documented forms (venues.md §1.8, docs /websockets)."""
    cmds: list[Any] = [
        {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"],
                                                 "market_tickers": [ticker]}},
        {"id": 2, "cmd": "subscribe", "params": {"channels": ["ticker", "trade"],
                                                 "market_ticker": ticker}},
        {"id": 3, "cmd": "unsubscribe", "params": {"sids": [1]}},
        {"id": 4, "cmd": "update_subscription", "params": {
            "sid": 1, "market_tickers": [ticker], "action": "add_markets"}},
        {"id": 5, "cmd": "update_subscription", "params": {
            "sids": [1], "action": "get_snapshot"}},
        {"id": 6, "cmd": "list_subscriptions"},
        {"id": 7, "cmd": "subscribe", "params": {"channels": ["fill", "market_lifecycle_v2"]}},
    ]
    return [json.dumps(c).encode() for c in cmds]


def polymarket_frame_seeds(token: str, condition: str, creds: tuple[str, str, str]
                           ) -> tuple[list[bytes], list[bytes]]:
    market = [
        {"assets_ids": [token], "type": "market"},
        {"assets_ids": [token], "operation": "subscribe"},
        {"assets_ids": [token], "operation": "unsubscribe"},
        {"assets_ids": [token], "type": "market", "custom_feature_enabled": True,
         "initial_dump": False},
    ]
    user = [
        {"auth": {"apiKey": creds[0], "secret": creds[1], "passphrase": creds[2]},
         "markets": [condition], "type": "user"},
        {"markets": [condition], "operation": "subscribe"},
        {"markets": [condition], "operation": "unsubscribe"},
    ]
    return ([json.dumps(m).encode() for m in market], [json.dumps(u).encode() for u in user])


@dataclass
class WsStats:
    frames: int = 0
    connections: int = 0
    dropped: int = 0
    venue_closes: Counter[str] = field(default_factory=Counter)
    error_frames: int = 0
    replies: int = 0
    examples: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {"frames": self.frames, "connections": self.connections, "dropped": self.dropped,
                "venue_closes": dict(self.venue_closes), "error_frames": self.error_frames,
                "replies": self.replies,
                **({"examples": [e[:200] for e in self.examples[:3]]} if self.examples else {})}


async def _drain(ws: aiohttp.ClientWebSocketResponse, stats: WsStats,
                 is_error: Callable[[str], bool], venue_close: Callable[[int | None, str], bool],
                 last: str, last_size: int = 0) -> bool:
    """Read what the server answered so far; False when the connection ended."""
    while True:
        try:
            msg = await ws.receive(timeout=0.002)
        except TimeoutError:
            return True
        if msg.type is aiohttp.WSMsgType.TEXT:
            stats.replies += 1
            if is_error(msg.data):
                stats.error_frames += 1
            continue
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
            code = msg.data if msg.type is aiohttp.WSMsgType.CLOSE else ws.close_code
            reason = str(msg.extra or "")
            if msg.type is aiohttp.WSMsgType.ERROR:
                reason = f"{type(msg.data).__name__}: {msg.data}"
            if code in (None, 1006) and last_size > KALSHI_MAX_FRAME:
                # the server's 1009 for an oversized frame raced the rest of our upload
                code, reason = 1009, "(reset while the oversized frame was sent)"
            if venue_close(code, reason):
                stats.venue_closes[f"{code} {reason}".strip()] += 1
            else:
                stats.dropped += 1
                if len(stats.examples) < 3:
                    stats.examples.append(f"closed {code} {reason!r} after {last[:120]!r}")
            return False
        # BINARY / PING / PONG: nothing to judge


async def fuzz_ws(url: str, headers: Callable[[], dict[str, str]], seeds: list[bytes], n: int,
                  seed: int, stats: WsStats, is_error: Callable[[str], bool],
                  venue_close: Callable[[int | None, str], bool],
                  opener: bytes | None = None, per_connection: int = 250) -> None:
    """``n`` frames over connections of ``per_connection`` frames each (a fresh connection
    also tries the venue's first-message rules; one is reopened when the venue closes it)."""
    rng = random.Random(f"{seed}:{url}")
    async with aiohttp.ClientSession() as http:
        sent = 0
        while sent < n:
            stats.connections += 1
            async with http.ws_connect(url, headers=headers(), autoping=True,
                                       max_msg_size=0) as ws:
                if opener is not None and rng.random() < 0.7:
                    await ws.send_str(opener.decode())
                alive = True
                budget = per_connection
                biggest = 0  # an oversized frame's 1009 may arrive frames later
                while alive and sent < n and budget > 0:
                    budget -= 1
                    sent += 1
                    stats.frames += 1
                    frame = rng.choice(seeds)
                    r = rng.random()
                    if r < 0.7:
                        frame = mutate(frame, rng)
                    elif r < 0.75:
                        frame = rng.choice(HOSTILE_BYTES)
                    text = frame.decode("utf-8", errors="replace")
                    try:
                        if rng.random() < 0.03:
                            await ws.send_bytes(frame)
                        else:
                            await ws.send_str(text)
                    except (ConnectionError, RuntimeError):
                        if max(biggest, len(frame)) > KALSHI_MAX_FRAME:
                            stats.venue_closes["1009 (reset while sending)"] += 1
                        else:
                            stats.dropped += 1
                        break
                    biggest = max(biggest, len(frame))
                    alive = await _drain(ws, stats, is_error, venue_close, text, biggest)


def _kalshi_is_error(text: str) -> bool:
    return '"type": "error"' in text or '"type":"error"' in text


def _poly_is_error(text: str) -> bool:
    return text == "INVALID OPERATION"


# -- the run ----------------------------------------------------------------------------------------


def targets(lv: Any) -> tuple[KalshiVenue, PolymarketVenue]:
    """What to aim at on a started :class:`~arbiter.sim.launcher.LocalVenues`: its first
    market on each venue, its paper tenant's credentials, its admin token."""
    from arbiter.venues.kalshi.signing import Signer, load_private_key

    ksim, psim = lv.kalshi, lv.polymarket
    key_id, address, api = lv._creds
    signer = Signer(key_id, load_private_key((lv.dir / "kalshi.pem").read_bytes()))
    ticker = next(iter(ksim.exchange.markets))
    kv = KalshiVenue(f"http://127.0.0.1:{ksim.port}", lv.admin_headers(), signer, ticker)
    kv.ws_url = ksim.ws_url
    market = next(iter(psim.exchange.markets.values()))
    order = _signed_order(lv.dir, psim, market, api[0])
    pv = PolymarketVenue(psim.url, lv.admin_headers(), address, api, market.yes_token,
                         market.condition_id, order)
    pv.ws_url = psim.ws_url
    return kv, pv


async def fuzz_kalshi(kv: KalshiVenue, n_http: int, n_ws: int, n_admin: int, seed: int,
                      crashes: CrashCounter) -> dict[str, Any]:
    before = Counter(crashes.kinds)
    http = await fuzz_http(kv, n_http, seed)
    http["crashes"] = dict(crashes.kinds - before)
    ws_stats = WsStats()
    before = Counter(crashes.kinds)
    await fuzz_ws(kv.ws_url, kv.ws_headers, kalshi_frame_seeds(kv.good["ticker"]), n_ws, seed,
                  ws_stats, _kalshi_is_error, _too_big)
    ws = ws_stats.json()
    ws["crashes"] = sum((crashes.kinds - before).values())
    ws["crash_types"] = dict(crashes.kinds - before)
    before = Counter(crashes.kinds)
    admin_run = await fuzz_http(kv, n_admin, seed, admin=True)
    admin_run["crashes"] = dict(crashes.kinds - before)
    return {"http": http, "ws": ws, "admin": admin_run}


async def fuzz_polymarket(pv: PolymarketVenue, n_http: int, n_ws: int, n_admin: int, seed: int,
                          crashes: CrashCounter) -> dict[str, Any]:
    before = Counter(crashes.kinds)
    http = await fuzz_http(pv, n_http, seed)
    http["crashes"] = dict(crashes.kinds - before)
    market_seeds, user_seeds = polymarket_frame_seeds(
        pv.good["token_id"], pv.good["condition_id"], (pv.api_key, pv.secret, pv.passphrase))
    ws_out: dict[str, Any] = {}
    for channel, seeds in (("market", market_seeds), ("user", user_seeds)):
        ws_stats = WsStats()
        before = Counter(crashes.kinds)
        await fuzz_ws(f"{pv.ws_url}/{channel}", dict, seeds, n_ws // 2, seed, ws_stats,
                      _poly_is_error, _poly_venue_close, seeds[0])
        ws = ws_stats.json()
        ws["crashes"] = sum((crashes.kinds - before).values())
        ws["crash_types"] = dict(crashes.kinds - before)
        ws_out[channel] = ws
    before = Counter(crashes.kinds)
    admin_run = await fuzz_http(pv, n_admin, seed, admin=True)
    admin_run["crashes"] = dict(crashes.kinds - before)
    return {"http": http, "ws": ws_out, "admin": admin_run}


@contextlib.contextmanager
def counting_crashes() -> Iterator[CrashCounter]:
    """A :class:`CrashCounter` on the loggers aiohttp reports handler exceptions to."""
    crashes = CrashCounter()
    names = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "asyncio")
    for name in names:
        logging.getLogger(name).addHandler(crashes)
    try:
        yield crashes
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(crashes)


async def run(venues_wanted: set[str], n_http: int, n_ws: int, seed: int,
              workdir: Path, n_admin: int = 0) -> dict[str, Any]:
    from arbiter.sim.launcher import LocalVenues

    out: dict[str, Any] = {"bench": "sim_fuzz", "seed": seed}
    lv = LocalVenues(workdir)
    await lv.start()
    try:
        kv, pv = targets(lv)
        with counting_crashes() as crashes:
            if "kalshi" in venues_wanted:
                out["kalshi"] = await fuzz_kalshi(kv, n_http, n_ws, n_admin, seed, crashes)
                out["kalshi"]["sim_stats"] = dict(lv.kalshi.stats)
            if "polymarket" in venues_wanted:
                out["polymarket"] = await fuzz_polymarket(pv, n_http, n_ws, n_admin, seed,
                                                          crashes)
                out["polymarket"]["sim_stats"] = dict(lv.polymarket.stats)
    finally:
        await lv.stop()
    return out


#: the local Kalshi's WebSocket message limit (``h_ws``: ``max_msg_size``)
KALSHI_MAX_FRAME = 1 << 20


def _too_big(code: int | None, reason: str) -> bool:
    """RFC 6455 §7.4.1 1009: a frame over the server's message limit (the local Kalshi's is
    1 MiB, Polymarket's 4 MiB): the protocol's own answer, not a handler failure."""
    return code == 1009


def _poly_venue_close(code: int | None, reason: str) -> bool:
    """Closes the venue itself makes: 1008 ``invalid subscription payload`` (observed live,
    nautechsystems/nautilus_trader issue 4864) and the user channel's refused credentials."""
    return ((code == 1008 and reason == "invalid subscription payload") or code == 4001
            or _too_big(code, reason))


def _signed_order(workdir: Path, psim: Any, market: Any, owner: str) -> dict[str, Any]:
    """A correctly signed ``POST /order`` body (the mutations start from the real thing)."""
    from arbiter.venues.polymarket.constants import V1, V2
    from arbiter.venues.polymarket.orders import OrderSpec, build_order
    from arbiter.venues.polymarket.signing import Signer as PolySigner

    signer = PolySigner((workdir / "polymarket.key").read_text().strip())
    spec = OrderSpec(token_id=market.yes_token, side=0, price=100, size=5_000_000,
                     tick=market.tick, neg_risk=market.neg_risk, fee_rate_bps=market.fee_bps)
    version = V2 if psim.exchange.version >= 2 else V1
    order = build_order(spec, signer, psim.exchange.chain_id, version, random.Random(1))
    body: dict[str, Any] = json.loads(order.serialize(owner))
    return body


def failed(result: dict[str, Any]) -> bool:
    for venue in ("kalshi", "polymarket"):
        r = result.get(venue)
        if not r:
            continue
        for part in ("http", "admin"):
            if part in r and (r[part]["5xx"] or r[part]["bad_shape"] or r[part]["crashes"]):
                return True
        channels = [r["ws"]] if "frames" in r["ws"] else list(r["ws"].values())
        if any(c["crashes"] or c["dropped"] for c in channels):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=5_000)
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--admin-requests", type=int, default=1_000,
                    help="hostile requests to the /_sim/ test controls, with the admin token")
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--venue", choices=["kalshi", "polymarket", "all"], default="all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    wanted = {"kalshi", "polymarket"} if args.venue == "all" else {args.venue}
    logging.getLogger("arbiter").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(wanted, args.requests, args.frames, args.seed, Path(tmp),
                                 args.admin_requests))
    result["ok"] = not failed(result)
    if args.json:
        print(json.dumps(result))
    else:
        for venue in ("kalshi", "polymarket"):
            r = result.get(venue)
            if not r:
                continue
            h = r["http"]
            print(f"{venue}: {h['requests']:,} requests: {h['5xx']} x 5xx "
                  f"({h['trading_5xx']} on trading routes), {h['bad_shape']} bad error shapes, "
                  f"crashes {h['crashes']}")
            for name, st in h["routes"].items():
                if st["5xx"] or st["bad_shape"]:
                    print(f"  {name}: {st}")
            if "admin" in r:
                a = r["admin"]
                print(f"  admin (with token): {a['requests']:,} requests: {a['5xx']} x 5xx, "
                      f"{a['bad_shape']} bad error shapes, crashes {a['crashes']}")
                for name, st in a["routes"].items():
                    if st["5xx"] or st["bad_shape"]:
                        print(f"    {name}: {st}")
            print(f"  sim stats: {r.get('sim_stats')}")
            channels = {"ws": r["ws"]} if "frames" in r["ws"] else r["ws"]
            for ch, w in channels.items():
                print(f"  ws {ch}: {w['frames']:,} frames, crashes {w['crashes']} "
                      f"{w['crash_types']}, dropped {w['dropped']}, venue closes "
                      f"{w['venue_closes']}, error frames {w['error_frames']:,}")
    return 1 if not result["ok"] else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
