"""WebSocket transports: the public market channel (books) and the authenticated user channel.

The market channel has no sequence numbers and has been seen going quiet without closing
(venues.md §2.8, §8), so the feed keeps four independent alarms: an application-level
``PING``/``PONG`` heartbeat, a per-connection silence budget after which it reconnects, the
staleness marks :class:`~arbiter.venues.polymarket.parsing.MarketBooks` raises on any
inconsistency, and a per-token *quiet watchdog*: a token whose book has not been confirmed for
``quiet_after_s`` is cross-checked against ``POST /books``; agreement confirms the book (a quiet
market), disagreement is a silent stall (the book is replaced from REST and the token
resubscribed; a connection that keeps stalling is replaced).

Nothing a frame or a REST body holds can end a task: the parser contains every error
(:data:`~arbiter.venues.polymarket.parsing.CONTAINED`), the resync path refuses bad bodies per
book, and every connection/resync/watchdog task runs under :meth:`MarketFeed._supervise`, which
restarts it with backoff and marks its tokens stale (so they resync) if anything escapes anyway.

Subscriptions are split at 200 assets per connection, as NautilusTrader does
(``crates/adapters/polymarket/src/common/consts.rs`` ``WS_MAX_SUBSCRIPTIONS = 200`` and
``docs/integrations/polymarket.md`` "501 or more instruments ... will not receive the initial
order book snapshot", nautechsystems/nautilus_trader@a95c8042b00133829d252ae8cf68f78fc176a973).
REST resyncs go in chunks of :data:`BOOKS_CHUNK` tokens: ``POST /books`` refuses oversize batches
with ``400 Payload exceeds the limit`` and the limit is unpublished (venues.md §0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from arbiter.venues.base import VenueError
from arbiter.venues.polymarket.auth import ApiCreds
from arbiter.venues.polymarket.constants import DEFAULT_WS_URL
from arbiter.venues.polymarket.parsing import (
    CONTAINED,
    FeedStats,
    MarketBooks,
    count_error,
    error_kind,
)
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.schemas import UserEvent

__all__ = ["BOOKS_CHUNK", "QUIET_AFTER_S", "Backoff", "MarketFeed", "UserFeed", "chunks"]

log = logging.getLogger(__name__)

#: per connection, as NautilusTrader after silent stalls (module docstring); the venue's
#: historical ceiling is 500
MAX_ASSETS_PER_CONNECTION = 200
#: tokens per ``POST /books``: the payload limit is unpublished (venues.md §0.1); 50 token ids
#: of 77 digits are ~5 KB of body, far under any plausible cap, and 500 req/10 s of ``/books``
#: (§2.9) still covers 25,000 tokens per 10 s
BOOKS_CHUNK = 50
#: a token whose book has not changed or been confirmed for this long is cross-checked against
#: REST; well inside the engine's default ``max_book_age_ns`` (15 s), so a healthy quiet book is
#: confirmed before the detector would refuse it
QUIET_AFTER_S = 5.0
_USER_DECODER = msgspec.json.Decoder(list[UserEvent] | UserEvent)


@dataclass
class Backoff:
    """Exponential backoff with full jitter, reset after a connection proved healthy."""

    initial_s: float = 0.2
    max_s: float = 15.0
    factor: float = 2.0
    attempt: int = 0

    def next_delay(self, rng: random.Random) -> float:
        ceiling = min(self.max_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        return ceiling * (0.5 + 0.5 * rng.random())

    def reset(self) -> None:
        self.attempt = 0


def apply_rest_book(books: MarketBooks, summary: Any, now_ns: int) -> None:
    """Resync one token from a REST snapshot (a decoded body or an ``OrderBookSummary``)."""
    body = msgspec.to_builtins(summary) if isinstance(summary, msgspec.Struct) else summary
    books.apply_rest(body, now_ns)


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def keep_alive(
    ws: aiohttp.ClientWebSocketResponse,
    heard: list[float],
    ping_interval_s: float,
    silence_timeout_s: float,
    channel: str,
) -> None:
    """Send the venue's application ``PING`` every ``ping_interval_s`` (docs
    /market-data/websocket/overview: the venue answers ``PONG``), and close a connection that
    has heard nothing since ``heard[0]`` (``time.monotonic``) for ``silence_timeout_s``.

    The close breaks the pump's waiting ``receive()`` (aiohttp feeds it a CLOSING message when
    another task closes), so the pump returns and its connection loop reconnects. Run as a
    task beside the pump, cancelled when the pump ends.
    """
    period = min(ping_interval_s, silence_timeout_s / 3)
    ping_at = time.monotonic() + ping_interval_s
    with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
        while not ws.closed:
            await asyncio.sleep(period)
            now = time.monotonic()
            if now - heard[0] > silence_timeout_s:
                log.warning("polymarket %s ws silent for %ss; reconnecting", channel,
                            silence_timeout_s)
                await ws.close()
                return
            if now >= ping_at:
                ping_at = now + ping_interval_s
                await ws.send_str("PING")


class MarketFeed:
    """Keeps :attr:`books` in step with the market channel for ``asset_ids``."""

    def __init__(
        self,
        asset_ids: Sequence[str],
        *,
        ws_url: str = DEFAULT_WS_URL,
        rest: PolymarketRest | None = None,
        books: MarketBooks | None = None,
        ping_interval_s: float = 10.0,
        silence_timeout_s: float = 30.0,
        resync_interval_s: float | None = None,
        resync_min_interval_s: float = 1.0,
        quiet_after_s: float | None = QUIET_AFTER_S,
        watchdog_interval_s: float = 1.0,
        stall_reconnect_after: int = 3,
        max_assets_per_connection: int = MAX_ASSETS_PER_CONNECTION,
        books_chunk: int = BOOKS_CHUNK,
        backoff: Backoff | None = None,
        seed: int | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.asset_ids = list(dict.fromkeys(asset_ids))
        self._asset_set = frozenset(self.asset_ids)
        self.resync_min_interval_s = resync_min_interval_s
        self._resync_at: dict[str, float] = {}
        self.url = ws_url.rstrip("/") + "/market"
        self.rest = rest
        self.books = books if books is not None else MarketBooks()
        self.ping_interval_s = ping_interval_s
        self.silence_timeout_s = silence_timeout_s
        self.resync_interval_s = resync_interval_s
        self.quiet_after_s = quiet_after_s
        self.watchdog_interval_s = watchdog_interval_s
        self.stall_reconnect_after = stall_reconnect_after
        self.max_assets_per_connection = max_assets_per_connection
        self.books_chunk = books_chunk
        self.backoff = backoff or Backoff()
        self._rng = random.Random(seed)
        self._clock = clock_ns
        self._tasks: list[asyncio.Task[None]] = []
        self._connected: dict[int, asyncio.Event] = {}
        self._conn_of: dict[str, int] = {}
        self._strikes: dict[int, int] = {}
        self._checked_at: dict[str, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._resync_lock = asyncio.Lock()
        self._stopping = False
        self.connections: dict[int, aiohttp.ClientWebSocketResponse] = {}

    @property
    def stats(self) -> FeedStats:
        return self.books.stats

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._session = aiohttp.ClientSession()
        for books in self.books.books:
            self.books.stale.add(books)
        groups = chunks(self.asset_ids, self.max_assets_per_connection) or [[]]
        for n, group in enumerate(groups):
            self._connected[n] = asyncio.Event()
            for asset in group:
                self._conn_of[asset] = n
            self._spawn(f"connection {n}", self._connection_factory(n, group), group)
        if self.resync_interval_s:
            interval = self.resync_interval_s
            self._spawn("periodic resync", lambda: self._periodic_resync(interval), [])
        if self.quiet_after_s:
            self._spawn("quiet watchdog", self._watchdog, [])

    def _connection_factory(self, n: int, group: list[str]) -> Callable[[], Awaitable[None]]:
        return lambda: self._run_connection(n, group)

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]], assets: list[str]) -> None:
        self._tasks.append(asyncio.create_task(self._supervise(name, factory, assets)))

    async def _supervise(
        self, name: str, factory: Callable[[], Awaitable[None]], assets: list[str]
    ) -> None:
        """Run ``factory()`` for as long as the feed runs: whatever escapes it (a bug, an
        exception type nobody foresaw) is logged, counted in ``stats.restarts``, its tokens
        marked stale so they resync, and the task restarted after a backoff."""
        backoff = Backoff(initial_s=self.backoff.initial_s, max_s=self.backoff.max_s)
        while not self._stopping:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.restarts += 1
                n = self.stats.restarts
                if n <= 3 or n % 100 == 0:
                    log.exception("polymarket market feed: %s failed (restart #%d): %r",
                                  name, n, exc)
            if self._stopping:
                return
            self.books.stale.update(a for a in assets if a in self.books.books)
            await asyncio.sleep(backoff.next_delay(self._rng))

    async def wait_connected(self, timeout_s: float = 5.0) -> None:
        await asyncio.wait_for(
            asyncio.gather(*(e.wait() for e in self._connected.values())), timeout_s
        )

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> MarketFeed:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- connection loop --------------------------------------------------------------------
    async def _run_connection(self, n: int, assets: list[str]) -> None:
        assert self._session is not None
        while not self._stopping:
            try:
                async with self._session.ws_connect(self.url, heartbeat=None) as ws:
                    self.connections[n] = ws
                    self._strikes[n] = 0
                    # custom_feature_enabled: best_bid_ask, new_market, market_resolved
                    # (docs /market-data/websocket/market-channel)
                    await ws.send_str(json.dumps({
                        "assets_ids": assets, "type": "market", "initial_dump": True,
                        "custom_feature_enabled": True,
                    }))
                    self._connected[n].set()
                    await self._pump(ws)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info("polymarket market ws %s: %r", self.url, exc)
            finally:
                self.connections.pop(n, None)
                self._connected[n].clear()
            if self._stopping:
                return
            self.books.stats.reconnects += 1
            self.books.stale.update(a for a in assets if a in self.books.books)
            await asyncio.sleep(self.backoff.next_delay(self._rng))

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Apply every frame of one connection until it ends.

        ``receive()`` is called without a timeout: aiohttp arms and cancels a timer per call,
        ~3.5 us a frame, a third of the whole per-frame cost (``bench.polymarket_ws`` over
        the wire: 119k → 192k frames per CPU-second; ADR 0175). Silence is watched by
        :func:`keep_alive` from ``heard``, the time the last frame of any kind was read
        (``inf`` while a resync runs, so that only the wait for a frame counts as silence, as
        the per-call timeout did)."""
        books = self.books
        monotonic = time.monotonic
        heard = [monotonic()]
        pinger = asyncio.create_task(keep_alive(
            ws, heard, self.ping_interval_s, self.silence_timeout_s, "market"))
        healthy = False
        try:
            while True:
                msg = await ws.receive()
                heard[0] = monotonic()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    data = msg.data
                    if data == "PONG":
                        books.stats.pongs += 1
                        continue
                    books.apply_frame(data, self._clock())
                    if not healthy:
                        healthy = True
                        self.backoff.reset()
                    if books.stale:
                        heard[0] = math.inf
                        await self.resync()
                        heard[0] = monotonic()
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    books.apply_frame(msg.data, self._clock())
                else:  # CLOSE, CLOSING (our silence watchdog's close), CLOSED, ERROR
                    return
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _periodic_resync(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.books.stale.update(a for a in self.asset_ids if a not in self.books.halted)
            await self.resync(force=True)

    # -- resync -------------------------------------------------------------------------------
    async def resync(self, force: bool = False) -> None:
        """Fresh snapshots of stale tokens (REST ``/books``, or a resubscribe without REST).

        Throttled per token (``resync_min_interval_s``) so a token that stays inconsistent, or a
        REST outage, cannot turn every incoming frame into another request. Never raises for
        what the venue answers: a failed chunk or an unusable body leaves its tokens stale.
        """
        if self._resync_lock.locked():
            return
        async with self._resync_lock:
            books = self.books
            foreign = [a for a in books.stale if a not in self._asset_set or a in books.halted]
            books.stale.difference_update(foreign)
            now = time.monotonic()
            last = self._resync_at
            due = [
                a for a in books.stale
                if force or now - last.get(a, -1e9) >= self.resync_min_interval_s
            ]
            if not due:
                return
            for asset in due:
                last[asset] = now
            if self.rest is None:
                await self._resubscribe(due)
                return
            for chunk in chunks(due, self.books_chunk):
                body = await self._rest_books(chunk)
                if body is None:
                    continue
                stamp = self._clock()
                for entry in body:
                    books.apply_rest(entry, stamp)
            missing = [a for a in due if a in books.stale]
            if missing:  # absent from the answer, or refused: the venue's own snapshot
                await self._resubscribe(missing)

    async def _rest_books(self, tokens: list[str]) -> list[Any] | None:
        """One ``POST /books`` chunk as a list of raw bodies, or ``None`` (counted, logged)."""
        assert self.rest is not None
        try:
            body = await self.rest.books_json(tokens)
        except VenueError as exc:
            count_error(self.stats, "rest_" + type(exc).__name__, exc, None, malformed=False)
            return None
        except CONTAINED as exc:  # not JSON at all
            count_error(self.stats, "rest_" + error_kind(exc), exc, None)
            return None
        if not isinstance(body, list):
            count_error(self.stats, "rest_schema", f"/books answered {type(body).__name__}",
                        None)
            return None
        return body

    async def _resubscribe(self, assets: list[str]) -> None:
        """Unsubscribe and subscribe again on the connection that carries each token: a fresh
        subscription answers with a ``book`` snapshot (docs: "emitted when first subscribed").

        Both steps, because the venue rejects a subscribe of an asset already subscribed
        ("duplicate assets"); message shapes as ``polymarket-client`` 0.14.0 builds them
        (``_internal/streams/clob/market_protocol.py``: ``build_unsubscribe_update``,
        ``build_subscribe_update`` with ``custom_feature_enabled``).
        """
        by_conn: dict[int, list[str]] = {}
        for asset in assets:
            by_conn.setdefault(self._conn_of.get(asset, 0), []).append(asset)
        sent = 0
        for n, group in by_conn.items():
            ws = self.connections.get(n)
            if ws is None:
                continue  # reconnecting: the new subscription brings snapshots anyway
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                await ws.send_str(json.dumps({"assets_ids": group, "operation": "unsubscribe"}))
                await ws.send_str(json.dumps({"assets_ids": group, "operation": "subscribe",
                                              "custom_feature_enabled": True}))
                sent += len(group)
        if sent:
            self.books.stats.resubscribes += sent
            self.books.stats.resyncs += 1

    # -- watchdog -----------------------------------------------------------------------------
    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.watchdog_interval_s)
            await self.check_quiet()

    async def check_quiet(self) -> list[str]:
        """Cross-check every token whose book has not been confirmed for ``quiet_after_s``.

        Returns the tokens found stalled. Without REST the quiet tokens are resubscribed (the
        venue's fresh snapshot confirms them).
        """
        if not self.quiet_after_s:
            return []
        books = self.books
        now = self._clock()
        budget = int(self.quiet_after_s * 1e9)
        tick = time.monotonic()
        checked = self._checked_at
        quiet = [
            a for a in self.asset_ids
            if a not in books.halted and a not in books.stale
            and (book := books.books.get(a)) is not None and now - book.ts_ns > budget
            and tick - checked.get(a, -1e9) >= self.quiet_after_s  # at most once per budget
        ]
        if not quiet:
            return []
        for asset in quiet:
            checked[asset] = tick
        books.stats.quiet_checks += len(quiet)
        if self.rest is None:
            await self._resubscribe(quiet)
            return []
        stalled: list[str] = []
        for chunk in chunks(quiet, self.books_chunk):
            asked = self._clock()
            body = await self._rest_books(chunk)
            if body is None:
                continue
            stamp = self._clock()
            for entry in body:
                if books.cross_check(entry, asked, stamp) == "stalled":
                    stalled.append(str(entry.get("asset_id")))
        if stalled:
            log.warning("polymarket market ws: %d token(s) silently stalled; resubscribing",
                        len(stalled))
            await self._resubscribe(stalled)
            for n in {self._conn_of.get(a, 0) for a in stalled}:
                self._strikes[n] = self._strikes.get(n, 0) + 1
                ws = self.connections.get(n)
                if ws is not None and self._strikes[n] >= self.stall_reconnect_after:
                    log.warning("polymarket market ws %d keeps stalling; reconnecting", n)
                    await ws.close()
        return stalled


class UserFeed:
    """The user channel: order and trade events of one API key, delivered to ``on_event``."""

    def __init__(
        self,
        creds: ApiCreds,
        on_event: Callable[[UserEvent], Awaitable[None] | None],
        *,
        markets: Sequence[str] = (),
        ws_url: str = DEFAULT_WS_URL,
        ping_interval_s: float = 10.0,
        silence_timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        seed: int | None = None,
    ) -> None:
        self.creds = creds
        self.on_event = on_event
        self.markets = list(markets)
        self.url = ws_url.rstrip("/") + "/user"
        self.ping_interval_s = ping_interval_s
        #: a connection that hears nothing this long (not even the PONGs of its PINGs) is
        #: replaced: a silently dead user channel would hide the tenant's own fills
        self.silence_timeout_s = silence_timeout_s
        self.backoff = backoff or Backoff()
        self._rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.malformed = 0
        self.reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def subscribe_frame(self) -> dict[str, object]:
        """The subscribe message as the official client sends it: ``markets`` only when some
        are chosen; omitted, the channel reports every market of the API key
        (``polymarket-client`` 0.14.0 ``_internal/streams/clob/user_protocol.py``
        ``build_initial_frame``; venues.md §0.1). An empty list is never sent: it is not the
        documented way to ask for everything."""
        frame: dict[str, object] = {
            "type": "user",
            "auth": {
                "apiKey": self.creds.api_key,
                "secret": self.creds.secret,
                "passphrase": self.creds.passphrase,
            },
        }
        if self.markets:
            frame["markets"] = list(self.markets)
        return frame

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(self.url, heartbeat=None) as ws:
                        await ws.send_str(json.dumps(self.subscribe_frame()))
                        self.connected.set()
                        await self._pump(ws)
                except asyncio.CancelledError:
                    raise
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.info("polymarket user ws: %r", exc)
                self.connected.clear()
                self.reconnects += 1
                await asyncio.sleep(self.backoff.next_delay(self._rng))

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        heard = [time.monotonic()]
        pinger = asyncio.create_task(keep_alive(
            ws, heard, self.ping_interval_s, self.silence_timeout_s, "user"))
        try:
            async for msg in ws:
                heard[0] = time.monotonic()
                if msg.type is not aiohttp.WSMsgType.TEXT or msg.data == "PONG":
                    continue
                try:
                    decoded = _USER_DECODER.decode(msg.data)
                except msgspec.MsgspecError:
                    self.malformed += 1
                    continue
                self.backoff.reset()
                heard[0] = math.inf  # the executor's handling is not the venue's silence
                for event in decoded if isinstance(decoded, list) else [decoded]:
                    result = self.on_event(event)
                    if result is not None:
                        await result
                heard[0] = time.monotonic()
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
