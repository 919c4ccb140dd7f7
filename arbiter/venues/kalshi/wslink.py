"""A lean WebSocket client transport for the book feed, on websockets' Sans-I/O protocol.

The ``websockets`` asyncio client moves every message through a queue, a future and an async
iterator; at 100k small frames a second that bookkeeping costs more than our parse and book
apply together. This transport keeps the library's protocol engine (handshake, framing, ping/pong,
close handshake: ``websockets.client.ClientProtocol``) and hands each complete text frame to a
synchronous callback straight from ``data_received``. Liveness is a read-idle watchdog: the venue
pings every 10 s, so silence for ``idle_timeout_s`` means the connection is dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable, Mapping
from typing import cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["HandshakeError", "WsLink", "open_link"]

Buffer = bytes | bytearray | memoryview


class HandshakeError(ConnectionError):
    """The server refused the upgrade (``status`` is its HTTP status, e.g. 401)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


class WsLink(asyncio.Protocol):
    """One connection; ``on_text`` runs synchronously for every complete text message."""

    def __init__(self, protocol: ClientProtocol, on_text: Callable[[Buffer], None]) -> None:
        self.proto = protocol
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.last_rx = time.monotonic()
        self._fragments: list[Buffer] = []
        #: called after each received chunk was processed (the feed flushes its outbox there)
        self.after_receive: Callable[[], None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop (Ray's worker loop) hands out its own transport classes, which implement the
        # Transport interface without subclassing asyncio.Transport: check the interface instead
        if not callable(getattr(transport, "write", None)):
            raise TypeError(f"stream transport expected, got {type(transport).__name__}")
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        proto = self.proto
        proto.receive_data(data)
        for event in proto.events_received():
            if type(event) is Frame:
                opcode = event.opcode
                if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                    if event.fin:
                        self.on_text(event.data)
                    else:
                        self._fragments = [event.data]
                elif opcode is Opcode.CONT and self._fragments:
                    self._fragments.append(event.data)
                    if event.fin:
                        data_, self._fragments = b"".join(self._fragments), []
                        self.on_text(data_)
                # PING: the protocol queued the PONG; PONG and CLOSE need nothing here
            elif isinstance(event, Response) and not self.opened.done():
                if proto.handshake_exc is not None:
                    exc = proto.handshake_exc
                    status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
                    self.opened.set_exception(HandshakeError(status, f"handshake refused: {exc}"))
                else:
                    self.opened.set_result(None)
        if self.after_receive is not None and self.opened.done():
            self.after_receive()
        self._flush()

    def eof_received(self) -> bool | None:
        self.proto.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost during handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- sending ------------------------------------------------------------------------------
    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        if self.proto.close_expected():
            loop = asyncio.get_running_loop()
            loop.call_later(2.0, self.abort)

    def ping(self) -> None:
        if self.proto.state is State.OPEN:
            self.proto.send_ping(b"arbiter")
            self._flush()

    def send_text(self, text: str) -> None:
        if self.proto.state is not State.OPEN:
            raise ConnectionError("websocket is not open")
        self.proto.send_text(text.encode())
        self._flush()

    def close(self) -> None:
        """Start the close handshake (the server answers and closes the TCP connection)."""
        if self.proto.state is State.OPEN:
            self.proto.send_close(1000)
            self._flush()
        else:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_link(
    url: str,
    headers: Mapping[str, str],
    on_text: Callable[[Buffer], None],
    *,
    open_timeout_s: float = 10.0,
    max_size: int = 1 << 24,
) -> WsLink:
    """Connect, send the upgrade with ``headers``, wait for the 101; raises on refusal."""
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, max_size=max_size)
    request = protocol.connect()
    for name, value in headers.items():
        request.headers[name] = value
    loop = asyncio.get_running_loop()
    link = WsLink(protocol, on_text)
    ctx = ssl.create_default_context() if uri.secure else None
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: link, uri.host, uri.port, ssl=ctx,
                                   server_hostname=uri.host if ctx else None),
            open_timeout_s,
        )
        protocol.send_request(request)
        link._flush()
        await asyncio.wait_for(asyncio.shield(link.opened), open_timeout_s)
    except (InvalidHandshake, TimeoutError, OSError):
        link.abort()
        with contextlib.suppress(Exception):
            link.opened.exception()  # mark retrieved
        raise
    return link
