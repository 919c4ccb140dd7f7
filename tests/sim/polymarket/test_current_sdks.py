"""Today's official SDKs, unchanged, against the local Polymarket answering as the V2 venue.

``py-clob-client-v2`` 1.2.1 (``ClobClient``) and ``polymarket-client`` 0.14.0
(``polymarket.SecureClient``, repo Polymarket/py-sdk) talk to the local venue on 127.0.0.1 with
``GET /version`` → 2: discovery (``/markets``, ``/markets-by-token/{token}``,
``/clob-markets/{condition_id}``), books, ``POST /prices``, signed V2 orders (place, get,
cancel), a crossing FOK and the account's trades. Our own client trades on the same venue
instance, so the three implementations are checked against one set of books.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from aiohttp import web
from polymarket import SecureClient
from polymarket.environments import PRODUCTION, _create_environment
from polymarket.models.clob import PriceRequest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    OpenOrderParams,
    OrderArgsV2,
    OrderType,
    TradeParams,
)
from py_clob_client_v2.order_utils.model.side import Side

from arbiter.core.book import Outcome
from arbiter.core.units import parse_price, parse_size
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.base import Action, OrderRequest, OrderStatus, TimeInForce
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from tests.sim.polymarket.conftest import (
    ADDR_A,
    ADDR_B,
    KEY_A,
    KEY_B,
    SimHandle,
    funded_exchange,
    one_market_spec,
)

pytestmark = pytest.mark.integration


#: (method, route) of every request the local venue answered, per test (which routes each SDK uses)
ROUTES: list[tuple[str, str]] = []


@pytest.fixture
async def v2_sim() -> AsyncIterator[SimHandle]:
    """One market, funded accounts, no makers, ``GET /version`` → 2 (the live venue)."""
    exchange = funded_exchange(one_market_spec())
    exchange.version = 2
    sim = PolymarketSim(exchange, scenario=None, seed=7, step_ms=50)
    ROUTES.clear()

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        info = request.match_info.route.resource
        ROUTES.append((request.method, info.canonical if info is not None else request.path))

    sim.app.on_response_prepare.append(record)
    await sim.start()
    try:
        yield SimHandle(sim, exchange, next(iter(exchange.markets.values())))
    finally:
        await sim.stop()


def _v2_client(url: str, key: str) -> ClobClient:
    client = ClobClient(url, chain_id=137, key=key)
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def _local_environment(url: str):  # type: ignore[no-untyped-def]
    """PRODUCTION with its CLOB URL pointed at the local venue (the SDK's own constructor)."""
    config = dataclasses.replace(
        PRODUCTION._config, clob_url=url,
        clob_market_ws_url=url.replace("http", "ws") + "/ws/market",
        clob_user_ws_url=url.replace("http", "ws") + "/ws/user",
    )
    return _create_environment(name="local", config=config)


async def test_py_clob_client_v2(v2_sim: SimHandle) -> None:
    run = asyncio.to_thread
    url, market = v2_sim.url, v2_sim.market
    yes, no = market.yes_token, market.no_token
    a = await run(_v2_client, url, KEY_A)
    b = await run(_v2_client, url, KEY_B)
    assert await run(a.get_version) == 2

    listed = await run(a.get_markets)
    assert listed["next_cursor"] == "LTE=" and listed["data"][0]["condition_id"] == market.condition_id
    info = await run(a.get_clob_market_info, market.condition_id)
    assert {t["t"] for t in info["t"]} == {yes, no}
    assert (await run(a.get_market, market.condition_id))["condition_id"] == market.condition_id
    # the fee lookup resolves the token's market first: GET /markets-by-token/{token}
    fresh = ClobClient(url, chain_id=137)
    assert await run(fresh.get_fee_exponent, no) == (info.get("fd") or {}).get("e", 0.0)

    # B rests a BUY of NO at 0.45 (V2 order: domain version "2", the V2 exchange)
    rest = await run(b.create_order, OrderArgsV2(token_id=no, price=0.45, size=10, side=Side.BUY))
    assert hasattr(rest, "timestamp")  # the SDK chose a V2 order from GET /version
    resp = await run(b.post_order, rest, OrderType.GTC)
    assert resp["success"] and resp["status"] == "live"
    book = await run(a.get_order_book, yes)
    assert book["asks"] == [{"price": "0.55", "size": "10"}] and book["bids"] == []
    prices = await run(a.get_prices, [BookParams(token_id=yes, side="BUY"),
                                      BookParams(token_id=yes, side="SELL")])
    assert prices == {yes: {"BUY": "0.55", "SELL": "0"}}
    got = await run(b.get_order, resp["orderID"])
    assert got["status"] == "LIVE" and got["original_size"] == "10"
    assert (await run(a.get_price, yes, "BUY"))["price"] == "0.55"
    assert (await run(a.get_spread, yes))["spread"] == "0"  # one-sided book
    books = await run(a.get_order_books, [BookParams(token_id=yes), BookParams(token_id=no)])
    assert [bk["asset_id"] for bk in books] == [yes, no]

    # A buys YES with a crossing FOK: fills at B's 0.55
    fok = await run(a.create_order, OrderArgsV2(token_id=yes, price=0.55, size=10, side=Side.BUY))
    filled = await run(a.post_order, fok, OrderType.FOK)
    assert filled["success"] and filled["status"] == "matched"
    assert filled["makingAmount"] == "5.5" and filled["takingAmount"] == "10"
    trades = await run(a.get_trades, TradeParams(market=market.condition_id))
    assert len(trades) == 1 and trades[0]["maker_orders"][0]["order_id"] == resp["orderID"]
    held = await run(a.get_balance_allowance, BalanceAllowanceParams(
        asset_type=AssetType.CONDITIONAL, token_id=yes))
    assert held["balance"] == "10000000"
    await run(a.update_balance_allowance, BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))

    # A rests and cancels
    bid = await run(a.create_order, OrderArgsV2(token_id=yes, price=0.30, size=20, side=Side.BUY))
    live = await run(a.post_order, bid, OrderType.GTC)
    assert [o["id"] for o in await run(a.get_open_orders, OpenOrderParams(asset_id=yes))] == [
        live["orderID"]]
    from py_clob_client_v2.clob_types import OrderPayload

    canceled = await run(a.cancel_order, OrderPayload(orderID=live["orderID"]))
    assert canceled["canceled"] == [live["orderID"]]
    assert (await run(a.get_order, live["orderID"]))["status"] == "CANCELED"
    used = set(ROUTES)
    for route in [("GET", "/version"), ("GET", "/markets"), ("GET", "/clob-markets/{condition_id}"),
                  ("GET", "/tick-size"), ("GET", "/neg-risk"), ("GET", "/book"),
                  ("POST", "/prices"), ("POST", "/order"), ("GET", "/data/order/{order_id}"),
                  ("GET", "/data/trades"), ("GET", "/data/orders"), ("DELETE", "/order")]:
        assert route in used, route


async def test_polymarket_client(v2_sim: SimHandle) -> None:
    run = asyncio.to_thread
    url, market = v2_sim.url, v2_sim.market
    yes, no = market.yes_token, market.no_token
    env = _local_environment(url)
    a = await run(lambda: SecureClient.create(private_key=KEY_A, wallet=ADDR_A, environment=env))
    b = await run(lambda: SecureClient.create(private_key=KEY_B, wallet=ADDR_B, environment=env))
    ours = await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_B}), url)
    try:
        assert ours.exchange_version == 2
        rest = await run(lambda: b.place_limit_order(token_id=no, price="0.45", size="10",
                                                     side="BUY"))
        assert rest.ok and rest.status == "live", rest
        book = await run(lambda: a.get_order_book(token_id=yes))
        assert [(lv.price, lv.size) for lv in book.asks] == [(Decimal("0.55"), Decimal("10"))]
        prices = await run(lambda: a.get_prices(requests=[PriceRequest(asset_id=yes, side="BUY")]))
        assert prices == {yes: {"BUY": Decimal("0.55")}}
        assert await run(lambda: a.get_price(token_id=yes, side="BUY")) == Decimal("0.55")
        cash = await run(lambda: a.get_balance_allowance(asset_type="COLLATERAL"))
        assert cash.balance == 1_000 * 10**6
        got = await run(lambda: b.get_order(order_id=rest.order_id))
        assert got.id == rest.order_id
        fok = await run(lambda: a.place_market_order(token_id=yes, side="BUY", amount="5.5",
                                                     max_price="0.55", order_type="FOK"))
        assert fok.ok and fok.status == "matched", fok
        trades = list(await run(lambda: list(a.list_account_trades())))
        assert len(trades) == 1
        bid = await run(lambda: a.place_limit_order(token_id=yes, price="0.30", size="20",
                                                    side="BUY"))
        assert bid.ok and bid.status == "live"
        canceled = await run(lambda: a.cancel_order(order_id=bid.order_id))
        assert bid.order_id in canceled.canceled

        # our client rests a V2 order on the same venue; the SDK's crossing FOK takes it
        ack = await ours.place_order(OrderRequest(
            market=no, outcome=Outcome.NO, action=Action.BUY, price=parse_price("0.40"),
            size=parse_size("5"), client_order_id="ours-1", tif=TimeInForce.GTC))
        assert ack.status is OrderStatus.OPEN
        take = await run(lambda: a.place_market_order(token_id=yes, side="BUY", amount="3",
                                                      max_price="0.60", order_type="FOK"))
        assert take.ok and take.status == "matched" and take.taking_amount == Decimal("5")
        assert (await ours.get_order(ack.order_id)).status is OrderStatus.FILLED
        assert [f.order_id for f in await ours.fills()][-1] == ack.order_id
    finally:
        await ours.close()
        a.close()
        b.close()
    used = set(ROUTES)
    for route in [("POST", "/auth/api-key"), ("GET", "/auth/derive-api-key"),
                  ("GET", "/markets-by-token/{token_id}"), ("GET", "/clob-markets/{condition_id}"),
                  ("GET", "/book"), ("POST", "/order"), ("GET", "/data/order/{order_id}"),
                  ("GET", "/data/trades"), ("DELETE", "/order")]:
        assert route in used, route
