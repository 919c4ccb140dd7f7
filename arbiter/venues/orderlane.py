"""Order lane: kept-alive HTTP/1.1 connections reserved for order creation.

The tick path's budget (venue frame → order on the wire, p99 ≤ 2 ms) cannot afford a general
HTTP client: aiohttp's request path costs ~0.5 ms here and only writes to the socket after at
least one event-loop turn. An order create is always the same request shape to the same host,
so the lane keeps a few connections open and idle, and :meth:`OrderLane.submit` writes the
whole request (line, headers, body) to an idle socket *synchronously*, inside the caller's
stack; only the answer is awaited. The answer is parsed by ``httptools`` (llhttp, the parser
uvicorn uses), so no HTTP parsing is hand-written here.

Rules that keep an order's outcome knowable:

- One request in flight per connection (no pipelining): an answer always belongs to the one
  request written on that socket.
- A connection whose answer is abandoned (timeout, cancellation) is closed, never reused: a
  late answer must not be read as the next order's.
- When the socket dies after the request was written, the caller gets :class:`LaneBroken`
  and must treat the order as *unknown* (it may have reached the venue); when no idle
  connection exists, :meth:`submit` returns ``None`` and the caller uses its ordinary client.
- Connections are recycled before the venue's idle timeout (``max_idle_s``) by a maintenance
  task, so a submit does not meet a socket the server closed a moment ago.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["LaneBroken", "LaneResponse", "OrderLane"]

log = logging.getLogger(__name__)


class LaneBroken(ConnectionError):
    """The connection failed after the request was written: the outcome is unknown."""


@dataclass(frozen=True, slots=True)
class LaneResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One socket, at most one request in flight; answers are parsed by llhttp."""

    def __init__(self, lane: OrderLane) -> None:
        self.lane = lane
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[LaneResponse] | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport (Ray workers run uvloop) is not an asyncio.Transport subclass
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(LaneBroken(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(LaneBroken(f"connection closed{f': {exc}' if exc else ''}"))

    # -- llhttp callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        response = LaneResponse(self.parser.get_status_code(), self._headers, b"".join(self._body))
        keep = self.parser.should_keep_alive()
        if waiter is None:  # an answer nobody asked for: the stream cannot be trusted
            self._fail(LaneBroken("unsolicited HTTP answer"))
            return
        if not waiter.done():
            waiter.set_result(response)
        if keep and not self.closed:
            self.idle_since = time.monotonic()
            self.lane._idle.append(self)
        else:
            self.close()

    # -- lane side -------------------------------------------------------------------------------
    def send(self, data: bytes) -> asyncio.Future[LaneResponse]:
        assert self.transport is not None and self.waiter is None
        waiter: asyncio.Future[LaneResponse] = self.lane._loop.create_future()
        waiter.add_done_callback(self._abandoned)
        self.waiter = waiter
        self.transport.write(data)
        return waiter

    def _abandoned(self, waiter: asyncio.Future[LaneResponse]) -> None:
        if waiter.cancelled() and self.waiter is waiter:  # a late answer must never be reused
            self.waiter = None
            self.close()

    def _fail(self, exc: LaneBroken) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ValueError):
            self.lane._idle.remove(self)
        self.lane._conns.discard(self)
        if self.transport is not None:
            self.transport.close()


class OrderLane:
    """``size`` kept-alive connections to ``url``'s host; submit writes synchronously."""

    def __init__(
        self,
        url: str,
        *,
        size: int = 2,
        max_idle_s: float = 20.0,
        connect_timeout_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "arbiter/0.1",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"order lane needs an http(s) URL, not {url!r}")
        self.secure = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.secure else 80)
        default_port = 443 if self.secure else 80
        self._host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        self.size = size
        self.max_idle_s = max_idle_s
        self.connect_timeout_s = connect_timeout_s
        self._ssl = ssl_context if ssl_context is not None else (
            ssl.create_default_context() if self.secure else None
        )
        self._static = (
            f"Host: {self._host_header}\r\nUser-Agent: {user_agent}\r\n"
            "Accept: application/json\r\nContent-Type: application/json\r\n"
        )
        self._conns: set[_Connection] = set()
        self._idle: deque[_Connection] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: requests written / submits that found no idle connection (metrics and tests read them)
        self.sent = 0
        self.misses = 0

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def open(self) -> None:
        """Connect the pool and keep it topped up and fresh until :meth:`close`."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        await self._top_up()
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._maintain(), name="order-lane")

    async def _connect(self) -> None:
        _, conn = await asyncio.wait_for(
            self._loop.create_connection(
                lambda: _Connection(self), self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self.secure else None,
            ),
            self.connect_timeout_s,
        )
        if self._closing:
            conn.close()
            return
        self._conns.add(conn)
        self._idle.append(conn)

    async def _top_up(self) -> None:
        while len(self._conns) < self.size and not self._closing:
            await self._connect()

    async def _maintain(self) -> None:
        interval = max(0.05, min(1.0, self.max_idle_s / 4))
        while not self._closing:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for conn in list(self._idle):  # recycle before the server's keep-alive runs out
                if now - conn.idle_since > self.max_idle_s:
                    conn.close()
            try:
                await self._top_up()
            except (OSError, TimeoutError) as exc:
                log.warning("order lane to %s:%s cannot connect: %s", self.host, self.port, exc)

    def submit(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[LaneResponse] | None:
        """Write the request now on an idle connection; ``None`` when there is none.

        ``target`` is the request target (path and query); header names and values are ours
        (signatures, ids), and a CR or LF in them is refused rather than written.
        """
        while self._idle:
            conn = self._idle.popleft()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                conn.close()
                continue
            try:
                data = self.render(method, target, headers, body)
            except ValueError:
                self._idle.appendleft(conn)
                raise
            self.sent += 1
            return conn.send(data)
        self.misses += 1
        return None

    def render(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """The request's bytes as :meth:`submit` writes them (also the tick-path rehearsal)."""
        lines = [f"{method} {target} HTTP/1.1\r\n", self._static, f"Content-Length: {len(body)}\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} contains a line break")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1") + body

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for conn in list(self._conns):
            conn.close()
        self._idle.clear()
