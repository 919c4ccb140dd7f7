"""A real gRPC server on 127.0.0.1 in its own event-loop thread, so tests use blocking channels."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc
import pytest

from arbiter.control.auth import Key, KeySet, Role
from arbiter.control.engine import InProcessEngine, OrderView
from arbiter.control.service import ControlServer, build_server, pb
from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.units import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE

T = TypeVar("T")
PAIRS = ("FED-DEC", "BTC-100K")


class ServerThread:
    def __init__(self, engine: InProcessEngine, keys: KeySet) -> None:
        self.engine = engine
        self.keys = keys
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: ControlServer = self.run(build_server(engine, keys))
        self.target = f"127.0.0.1:{self.server.port}"

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def on_loop(self, fn: Callable[[], T]) -> T:
        fut: Future[T] = Future()

        def call() -> None:
            fut.set_result(fn())

        self.loop.call_soon_threadsafe(call)
        return fut.result(10)

    def wait_subscribers(self, feed: Any, n: int) -> None:
        deadline = time.monotonic() + 20
        while feed.subscribers < n:
            assert time.monotonic() < deadline, "stream never subscribed"
            time.sleep(0.01)

    def close(self) -> None:
        self.run(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def keys() -> KeySet:
    ks = KeySet()
    ks.add(Key.hmac("k1", "first-secret-that-is-long-enough-32b"))
    return ks


@pytest.fixture
def engine() -> InProcessEngine:
    cancelled: list[str] = []

    async def canceller(order: OrderView) -> bool:
        cancelled.append(order.order_id)
        return order.order_id != "refuse-me"

    eng = InProcessEngine(["acme", "globex"], PAIRS, canceller=canceller)
    eng.cancelled = cancelled  # type: ignore[attr-defined]
    return eng


@pytest.fixture
def server(engine: InProcessEngine, keys: KeySet) -> Iterator[ServerThread]:
    st = ServerThread(engine, keys)
    yield st
    st.close()


@pytest.fixture
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> Any:
    return pb()[1].ControlServiceStub(channel)


def token(keys: KeySet, tenant: str, role: Role, ttl: int = 300, now: int | None = None) -> str:
    return keys.issue("tester", tenant, role, ttl, int(time.time()) if now is None else now)


def md(tok: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {tok}")]


def opportunity(pair: str, profit_cents: int = 3, detected_ns: int = 1) -> Opportunity:
    size = 10 * SIZE_SCALE
    legs = (
        Leg("kalshi", pair, Outcome.YES, 4500, 45 * MONEY_SCALE // 10, 0, 0),
        Leg("polymarket", f"{pair}-no", Outcome.NO, 5200, 52 * MONEY_SCALE // 10, 0, 0),
    )
    cost = legs[0].cost + legs[1].cost
    return Opportunity(
        pair, "kalshi_yes_poly_no", size, legs, cost, 0, profit_cents * MONEY_SCALE // 100, detected_ns
    )


__all__ = ["PAIRS", "PRICE_SCALE", "ServerThread", "md", "opportunity", "token"]
