"""WebSocket transports: the public market channel (books) and the authenticated user channel.

The market channel has no sequence numbers and has been seen going quiet without closing
(venues.md §2.8, §8), so the feed keeps three independent alarms: an application-level
``PING``/``PONG`` heartbeat, a silence budget after which it reconnects, and the staleness marks
:class:`~arbiter.venues.polymarket.parsing.MarketBooks` raises on any inconsistency. A stale token
is resynced from ``GET /book`` (the one source that is certainly complete); every reconnect marks
all tokens stale until their ``book`` snapshot arrives. Subscriptions above ~500 assets are split
over several connections, as the venue expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
import msgspec

from arbiter.core.book import BookError, TokenBook
from arbiter.core.units import UnitError, parse_tick
from arbiter.venues.base import VenueError
from arbiter.venues.polymarket.auth import ApiCreds
from arbiter.venues.polymarket.constants import DEFAULT_WS_URL
from arbiter.venues.polymarket.parsing import FeedStats, MarketBooks, parse_levels
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.schemas import OrderBookSummary, UserEvent

__all__ = ["Backoff", "MarketFeed", "UserFeed"]

log = logging.getLogger(__name__)

MAX_ASSETS_PER_CONNECTION = 500
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


def apply_rest_book(books: MarketBooks, summary: OrderBookSummary, now_ns: int) -> None:
    """Resync one token from a REST snapshot (also fixes the tick from ``tick_size``)."""
    try:
        tick = parse_tick(summary.tick_size)
        bids = parse_levels(summary.bids, tick, "bids")
        asks = parse_levels(summary.asks, tick, "asks")
    except UnitError:  # the token stays stale; the next resync tries again
        books.stats.malformed += 1
        return
    book = books.books.get(summary.asset_id)
    if book is None:
        book = books.books[summary.asset_id] = TokenBook(summary.asset_id, tick)
    books.market_of[summary.asset_id] = summary.market
    try:
        book.apply_snapshot(bids, asks, now_ns, tick=tick)
    except BookError:
        books.stats.rejected += 1
        return
    books.stale.discard(summary.asset_id)
    books.stats.resyncs += 1
    if books.on_change is not None:
        books.on_change(summary.asset_id)


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
        self.backoff = backoff or Backoff()
        self._rng = random.Random(seed)
        self._clock = clock_ns
        self._tasks: list[asyncio.Task[None]] = []
        self._connected: dict[int, asyncio.Event] = {}
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
        chunks = [
            self.asset_ids[i : i + MAX_ASSETS_PER_CONNECTION]
            for i in range(0, len(self.asset_ids), MAX_ASSETS_PER_CONNECTION)
        ] or [[]]
        for n, chunk in enumerate(chunks):
            self._connected[n] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._run_connection(n, chunk)))
        if self.resync_interval_s:
            self._tasks.append(asyncio.create_task(self._periodic_resync(self.resync_interval_s)))

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
                    await ws.send_str(
                        json.dumps(
                            {"assets_ids": assets, "type": "market", "initial_dump": True}
                        )
                    )
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
        books = self.books
        pinger = asyncio.create_task(self._ping(ws))
        healthy = False
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self.silence_timeout_s)
                except TimeoutError:
                    log.warning("polymarket market ws silent for %ss; reconnecting",
                                self.silence_timeout_s)
                    return
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
                        await self.resync()
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    books.apply_frame(msg.data, self._clock())
                else:  # CLOSE, CLOSING, CLOSED, ERROR
                    return
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            while not ws.closed:
                await asyncio.sleep(self.ping_interval_s)
                await ws.send_str("PING")

    async def _periodic_resync(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.books.stale.update(self.asset_ids)
            await self.resync(force=True)

    async def resync(self, force: bool = False) -> None:
        """Fresh snapshots of stale tokens (REST ``/books``, or a resubscribe without REST).

        Throttled per token (``resync_min_interval_s``) so a token that stays inconsistent, or a
        REST outage, cannot turn every incoming frame into another request.
        """
        if self._resync_lock.locked():
            return
        async with self._resync_lock:
            books = self.books
            foreign = [a for a in books.stale if a not in self._asset_set]
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
            try:
                summaries = await self.rest.books(due)
            except VenueError as exc:
                log.warning("polymarket resync of %d books failed: %s", len(due), exc)
                return
            stamp = self._clock()
            for summary in summaries:
                apply_rest_book(books, summary, stamp)

    async def _resubscribe(self, assets: list[str]) -> None:
        for ws in list(self.connections.values()):
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                await ws.send_str(json.dumps({"assets_ids": assets, "operation": "subscribe"}))
        self.books.stats.resyncs += 1


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
        backoff: Backoff | None = None,
        seed: int | None = None,
    ) -> None:
        self.creds = creds
        self.on_event = on_event
        self.markets = list(markets)
        self.url = ws_url.rstrip("/") + "/user"
        self.ping_interval_s = ping_interval_s
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

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(self.url, heartbeat=None) as ws:
                        await ws.send_str(json.dumps({
                            "auth": {
                                "apiKey": self.creds.api_key,
                                "secret": self.creds.secret,
                                "passphrase": self.creds.passphrase,
                            },
                            "markets": self.markets,
                            "type": "user",
                        }))
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
        async def ping() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                while not ws.closed:
                    await asyncio.sleep(self.ping_interval_s)
                    await ws.send_str("PING")

        pinger = asyncio.create_task(ping())
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT or msg.data == "PONG":
                    continue
                try:
                    decoded = _USER_DECODER.decode(msg.data)
                except msgspec.MsgspecError:
                    self.malformed += 1
                    continue
                self.backoff.reset()
                for event in decoded if isinstance(decoded, list) else [decoded]:
                    result = self.on_event(event)
                    if result is not None:
                        await result
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
