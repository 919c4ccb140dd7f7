"""Deposit wallets (signature type 3) and protocol-V2 (position-id) markets on the local venue.

Our client and both current official SDKs sign POLY_1271 orders (ERC-7739 envelope) and
ExchangeV3 orders; the local Polymarket verifies every one of them (owner recovered from the
``TypedDataSign`` digest, envelope checked against this exchange and this order) and trades them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest
from polymarket import SecureClient
from polymarket._internal.environment import PRODUCTION_CONFIG
from polymarket._internal.wallet import derive_beacon_deposit_wallet_address
from polymarket.environments import _create_environment
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import OrderArgsV2, OrderType
from py_clob_client_v2.order_utils.model.side import Side

from arbiter.core.book import Outcome
from arbiter.core.units import parse_price, parse_size
from arbiter.sim.common import ScenarioMarket, ScenarioSpec
from arbiter.sim.polymarket.exchange import SimMarket, SimReject
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.base import Action, OrderRequest, OrderStatus, RejectedError
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.constants import V2, is_position_id
from arbiter.venues.polymarket.orders import OrderSpec, build_order
from arbiter.venues.polymarket.schemas import PostOrderBody, WireOrder
from arbiter.venues.polymarket.signing import Signer
from tests.sim.polymarket.conftest import ADDR_A, ADDR_B, KEY_A, KEY_B, SimHandle, funded_exchange

pytestmark = pytest.mark.integration

WALLET_A = derive_beacon_deposit_wallet_address(ADDR_A, PRODUCTION_CONFIG.wallet_derivation)
WALLET_B = derive_beacon_deposit_wallet_address(ADDR_B, PRODUCTION_CONFIG.wallet_derivation)


@dataclasses.dataclass
class Venue:
    handle: SimHandle
    ctf: SimMarket  # CTF tokens, ExchangeV2
    positions: SimMarket  # protocol V2: position ids, ExchangeV3


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    spec = ScenarioSpec(name="wallets", markets=(
        ScenarioMarket(key="CTF", title="A CTF market", fair=5000, volatility_ticks=0),
        ScenarioMarket(key="PV2", title="A protocol-V2 market", fair=5000, volatility_ticks=0,
                       venues={"polymarket": {"protocol": "v2"}}),
    ), step_ms=50)
    exchange = funded_exchange(spec)
    exchange.version = 2
    for wallet, owner in ((WALLET_A, ADDR_A), (WALLET_B, ADDR_B)):
        exchange.fund(wallet, collateral=1_000 * 10**10)
        exchange.register_funder(wallet, owner, 3)
    by_key = {m.key: m for m in exchange.markets.values()}
    sim = PolymarketSim(exchange, scenario=None, seed=7, step_ms=50)
    await sim.start()
    try:
        yield Venue(SimHandle(sim, exchange, by_key["CTF"]), by_key["CTF"], by_key["PV2"])
    finally:
        await sim.stop()


async def _ours(v: Venue, key: str, wallet: str) -> PolymarketClient:
    return await PolymarketClient.connect(PolymarketCredentials.from_env({
        "POLYMARKET_PRIVATE_KEY": key, "POLYMARKET_FUNDER": wallet,
        "POLYMARKET_SIGNATURE_TYPE": "3"}), v.handle.url)


def _req(token: str, price: str, size: str, cid: str, action: Action = Action.BUY) -> OrderRequest:
    return OrderRequest(market=token, outcome=Outcome.YES, action=action,
                        price=parse_price(price), size=parse_size(size), client_order_id=cid)


@pytest.mark.parametrize("kind", ["ctf", "positions"])
async def test_our_deposit_wallet_orders_are_verified_and_trade(venue: Venue, kind: str) -> None:
    m = venue.ctf if kind == "ctf" else venue.positions
    assert is_position_id(m.yes_token) is (kind == "positions")
    a, b = await _ours(venue, KEY_A, WALLET_A), await _ours(venue, KEY_B, WALLET_B)
    try:
        rest = await b.place_order(_req(m.no_token, "0.45", "10", "b1"))
        assert rest.status is OrderStatus.OPEN
        take = await a.place_order(_req(m.yes_token, "0.55", "10", "a1"))
        assert take.status is OrderStatus.FILLED
        ex = venue.handle.exchange
        assert ex.orders[take.order_id].maker == WALLET_A  # the wallet pays and receives
        assert ex.wallet(WALLET_A).tokens[m.yes_token] == 10 * 10**6
        assert await a.token_balance(m.yes_token) == parse_size("10")
    finally:
        await a.close()
        await b.close()


async def test_the_venue_refuses_envelopes_that_do_not_verify(venue: Venue) -> None:
    m, ex = venue.positions, venue.handle.exchange
    signer = Signer(KEY_A)
    spec = OrderSpec(token_id=m.yes_token, side=0, price=4000, size=10 * 10**6, tick=100,
                     salt=1, signature_type=3, funder=WALLET_A)
    good = build_order(spec, signer, 137, V2)
    client = await _ours(venue, KEY_A, WALLET_A)
    try:
        assert client.credentials.api is not None
        key = client.credentials.api.api_key

        def body(order: dict[str, object]) -> PostOrderBody:
            return PostOrderBody(order=WireOrder(**order), owner=key)  # type: ignore[arg-type]

        # the envelope of another order (contents hash mismatch)
        other = build_order(dataclasses.replace(spec, salt=2), signer, 137, V2)
        forged = {**good.order_json(), "signature": other.signature}
        with pytest.raises(SimReject, match="invalid signature"):
            ex.post_order(body(forged), key, time.time_ns())
        # someone else's wallet: B's key cannot spend from A's deposit wallet
        stolen = build_order(dataclasses.replace(spec, salt=3), Signer(KEY_B), 137, V2)
        with pytest.raises(SimReject):
            ex.post_order(body(stolen.order_json()), key, time.time_ns())
        # the genuine one is accepted
        assert ex.post_order(body(good.order_json()), key, time.time_ns())["success"]
    finally:
        await client.close()


async def test_polymarket_client_trades_from_a_deposit_wallet(venue: Venue) -> None:
    url = venue.handle.url
    config = dataclasses.replace(PRODUCTION_CONFIG, clob_url=url, relayer_url=url)
    env = _create_environment(name="local", config=config)
    run = asyncio.to_thread
    # no wallet given: the SDK's default flow, the signer's deposit wallet (GET /deployed)
    sdk = await run(lambda: SecureClient.create(private_key=KEY_A, environment=env))
    ours = await _ours(venue, KEY_B, WALLET_B)
    try:
        assert sdk.wallet == WALLET_A and sdk.wallet_type == "DEPOSIT_WALLET"
        for m in (venue.ctf, venue.positions):
            rest = await ours.place_order(_req(m.no_token, "0.45", "10", f"r-{m.key}"))
            assert rest.status is OrderStatus.OPEN
            resp = await run(lambda m=m: sdk.place_limit_order(
                token_id=m.yes_token, price="0.55", size="10", side="BUY"))
            assert resp.ok and resp.status == "matched", resp
            order = venue.handle.exchange.orders[resp.order_id]
            assert order.maker == WALLET_A and order.signer == ADDR_A
    finally:
        await ours.close()
        sdk.close()


async def test_py_clob_client_v2_signs_deposit_wallet_and_position_orders(venue: Venue) -> None:
    run = asyncio.to_thread
    url = venue.handle.url

    def make() -> ClobClient:
        c = ClobClient(url, chain_id=137, key=KEY_A, signature_type=3, funder=WALLET_A)
        c.set_api_creds(c.create_or_derive_api_key())
        return c

    sdk = await run(make)
    for m, args in (
        (venue.ctf, OrderArgsV2(token_id=venue.ctf.yes_token, price=0.30, size=10, side=Side.BUY)),
        (venue.positions, OrderArgsV2(position_id=venue.positions.yes_token, price=0.30, size=10,
                                      side=Side.BUY)),
    ):
        signed = await run(sdk.create_order, args)
        resp = await run(sdk.post_order, signed, OrderType.GTC)
        assert resp["success"] and resp["status"] == "live", (m.key, resp)
        assert venue.handle.exchange.orders[resp["orderID"]].maker == WALLET_A
    with pytest.raises(RejectedError):  # our client refuses type 3 on a v1 venue up front
        venue.handle.exchange.version = 1
        ours = await _ours(venue, KEY_A, WALLET_A)
        try:
            await ours.place_order(_req(venue.ctf.yes_token, "0.30", "10", "v1"))
        finally:
            await ours.close()
