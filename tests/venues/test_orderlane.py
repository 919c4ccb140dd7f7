"""The order lane against raw loopback servers that answer well, badly or not at all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from arbiter.venues.orderlane import LaneBroken, OrderLane

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

OK = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


class Server:
    """A loopback HTTP/1.1 server whose per-request behaviour a test chooses."""

    def __init__(self, behaviour: str = "ok") -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/trade-api/v2"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if self.behaviour == "ok":
                    writer.write(OK)
                elif self.behaviour == "close":
                    writer.write(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
                    await writer.drain()
                    break
                elif self.behaviour == "drop":
                    break
                elif self.behaviour == "garbage":
                    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
                elif self.behaviour == "silent":
                    await asyncio.sleep(3600)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    try:
        yield srv
    finally:
        srv.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(srv.server.wait_closed(), 1.0)


async def _lane(server: Server, **options: float) -> OrderLane:
    lane = OrderLane(server.url, **options)  # type: ignore[arg-type]
    await lane.open()
    return lane


async def _within(seconds: float, done: Callable[[], bool]) -> None:
    """Give the lane's maintenance task up to ``seconds`` to make ``done`` true (the caller
    asserts what it expects afterwards)."""
    for _ in range(int(seconds / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)


async def test_submit_writes_inline_and_reuses_kept_alive_connections(server: Server) -> None:
    lane = await _lane(server, size=2)
    try:
        for i in range(10):
            pending = lane.submit("POST", "/trade-api/v2/portfolio/events/orders",
                                  {"X-Id": str(i)}, b'{"n":%d}' % i)
            assert pending is not None and lane.sent == i + 1  # written before any await
            answer = await pending
            assert (answer.status, answer.body) == (201, b'{"ok":true}')
            assert answer.headers["content-type"] == "application/json"
        assert server.connections == 2 and lane.misses == 0
        first = server.requests[0]
        assert first.startswith(b"POST /trade-api/v2/portfolio/events/orders HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in first and b"\r\nContent-Length: 7\r\n" in first
        assert b"\r\nX-Id: 0\r\n" in first and first.endswith(b'{"n":0}')
    finally:
        await lane.close()


async def test_busy_pool_says_none_so_the_caller_falls_back(server: Server) -> None:
    lane = await _lane(server, size=1)
    try:
        first = lane.submit("POST", "/o", {}, b"{}")
        assert first is not None
        assert lane.submit("POST", "/o", {}, b"{}") is None and lane.misses == 1
        await first
        assert lane.submit("POST", "/o", {}, b"{}") is not None
    finally:
        await lane.close()


@pytest.mark.parametrize("behaviour", ["drop", "garbage"])
async def test_a_broken_answer_is_an_unknown_outcome(server: Server, behaviour: str) -> None:
    server.behaviour = behaviour
    lane = await _lane(server, size=1)
    try:
        pending = lane.submit("POST", "/o", {}, b"{}")
        assert pending is not None
        with pytest.raises(LaneBroken):
            await pending
        assert len(server.requests) == 1  # it was written: the caller must look it up
        assert lane.idle == 0
    finally:
        await lane.close()


async def test_an_abandoned_answer_closes_its_connection(server: Server) -> None:
    server.behaviour = "silent"
    lane = await _lane(server, size=1, max_idle_s=0.2)
    try:
        pending = lane.submit("POST", "/o", {}, b"{}")
        assert pending is not None
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await pending
        assert lane.idle == 0
        server.behaviour = "ok"
        await _within(1.0, lambda: lane.idle > 0)  # the maintenance task connects a fresh socket
        assert lane.idle == 1 and server.connections == 2
        again = lane.submit("POST", "/o", {}, b"{}")
        assert again is not None and (await again).status == 201
    finally:
        await lane.close()


async def test_connection_close_answers_and_idle_connections_are_recycled(server: Server) -> None:
    server.behaviour = "close"
    lane = await _lane(server, size=1, max_idle_s=0.2)
    try:
        pending = lane.submit("POST", "/o", {}, b"{}")
        assert pending is not None and (await pending).status == 201
        assert lane.idle == 0  # "Connection: close" is honoured, never reused
        server.behaviour = "ok"
        await _within(2.0, lambda: server.connections >= 3)  # replaced, then recycled for age
        assert server.connections >= 3
    finally:
        await lane.close()


async def test_line_breaks_in_headers_are_refused_not_written(server: Server) -> None:
    lane = await _lane(server, size=1)
    try:
        with pytest.raises(ValueError, match="line break"):
            lane.submit("POST", "/o", {"X-Evil": "a\r\nInjected: 1"}, b"{}")
        assert lane.idle == 1 and lane.sent == 0
        await asyncio.sleep(0.01)
        assert server.requests == []
    finally:
        await lane.close()


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        OrderLane("ws://127.0.0.1:1/x")


def test_works_on_uvloop() -> None:
    """Ray workers run uvloop, whose transports are not ``asyncio.Transport`` subclasses."""
    import uvloop

    async def scenario() -> int:
        srv = Server()
        srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        lane = await _lane(srv, size=1)
        try:
            pending = lane.submit("POST", "/o", {}, b"{}")
            assert pending is not None
            return (await pending).status
        finally:
            await lane.close()
            srv.server.close()

    assert uvloop.run(scenario()) == 201
