from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from arbiter.core.units import parse_price
from arbiter.sim.common import ScenarioMarket, ScenarioSpec
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.exchange import Exchange, SimMarket
from arbiter.sim.polymarket.server import PolymarketSim

#: the vectors' throwaway key (never funded anywhere real) and Hardhat account #1
KEY_A = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcaff92c1b8c2bdd4f"
ADDR_A = "0x90ADB98Ad3FbaEb40835aA6075E44eb8109A6b41"
KEY_B = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDR_B = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SAFE_B = "0x2222222222222222222222222222222222222222"


def one_market_spec(key: str = "TEST-MKT", fair: str = "0.50") -> ScenarioSpec:
    market = ScenarioMarket(key=key, title="Will the test pass?", fair=parse_price(fair, 100),
                            volatility_ticks=0, levels=3, spread_ticks=1)
    return ScenarioSpec(name="test", markets=(market,), step_ms=50)


@dataclass
class SimHandle:
    sim: PolymarketSim
    exchange: Exchange
    market: SimMarket

    @property
    def url(self) -> str:
        return self.sim.url

    @property
    def ws_url(self) -> str:
        return self.sim.ws_url


def funded_exchange(spec: ScenarioSpec) -> Exchange:
    exchange = build_exchange(spec, seed=7)
    exchange.fund(ADDR_A, collateral=1_000 * 10**10)
    exchange.fund(ADDR_B, collateral=1_000 * 10**10)
    exchange.fund(SAFE_B, collateral=1_000 * 10**10)
    exchange.register_funder(SAFE_B, ADDR_B, 2)
    return exchange


@pytest.fixture
async def bare_sim() -> AsyncIterator[SimHandle]:
    """One market, two funded accounts, no liquidity makers (exact books)."""
    spec = one_market_spec()
    exchange = funded_exchange(spec)
    sim = PolymarketSim(exchange, scenario=None, seed=7, step_ms=50)
    await sim.start()
    try:
        yield SimHandle(sim, exchange, next(iter(exchange.markets.values())))
    finally:
        await sim.stop()


@pytest.fixture
async def maker_sim() -> AsyncIterator[SimHandle]:
    """One market quoted by a still liquidity maker (both tokens)."""
    spec = one_market_spec()
    exchange = funded_exchange(spec)
    sim = PolymarketSim(exchange, scenario=spec, seed=7, step_ms=50)
    await sim.start()
    try:
        yield SimHandle(sim, exchange, next(iter(exchange.markets.values())))
    finally:
        await sim.stop()


_raw_n = 0


def place_raw(
    exchange: Exchange, market: SimMarket, token: str, side: str, price: int, size: int,
    account: str = "0x3333333333333333333333333333333333333333", now_ns: int | None = None,
) -> str:
    """Rest an unsigned order straight on the exchange (book-shaping in feed tests)."""
    import time

    from arbiter.core.matching import TimeInForce
    from arbiter.sim.polymarket.exchange import SimOrder

    global _raw_n
    _raw_n += 1
    exchange.fund(account, collateral=10**6 * 10**10, tokens={token: 10**6 * 10**6})
    order = SimOrder(
        id=f"raw-{_raw_n}", owner="raw", maker=account, signer=account, market=market,
        token=token, side=side, price=price, size=size, order_type="GTC", created_at=0,
    )
    exchange.submit(order, TimeInForce.GTC, False, now_ns or time.time_ns())
    return order.id


@contextlib.asynccontextmanager
async def recording_v2_sim(with_status: bool) -> AsyncIterator[tuple[SimHandle, list[str]]]:
    """A funded one-market local Polymarket answering as exchange version 2, and the list of
    requests it answered (``"METHOD path"``, plus the status when ``with_status``)."""
    exchange = funded_exchange(one_market_spec())
    exchange.version = 2
    sim = PolymarketSim(exchange, scenario=None, seed=7, step_ms=50)
    calls: list[str] = []

    async def record(req: web.Request, resp: web.StreamResponse) -> None:
        calls.append(f"{req.method} {req.path} {resp.status}" if with_status
                     else f"{req.method} {req.path}")

    sim.app.on_response_prepare.append(record)
    await sim.start()
    try:
        yield SimHandle(sim, exchange, next(iter(exchange.markets.values()))), calls
    finally:
        await sim.stop()
