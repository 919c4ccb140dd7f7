"""The official ``py-clob-client`` against the local Polymarket: creds, books, fill, cancel."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from py_clob_client.client import ClobClient
from py_clob_client.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    MarketOrderArgs,
    OpenOrderParams,
    OrderArgs,
    OrderType,
)
from py_clob_client.exceptions import PolyApiException
from py_clob_client.order_builder.constants import BUY

from tests.sim.polymarket.conftest import ADDR_A, KEY_A, KEY_B, SimHandle

pytestmark = pytest.mark.integration


def _client(url: str, key: str) -> ClobClient:
    client = ClobClient(url, key=key, chain_id=137)
    client.set_api_creds(client.create_or_derive_api_creds())
    return client


async def test_sdk_round_trip(bare_sim: SimHandle) -> None:
    url = bare_sim.url
    market = bare_sim.market
    run = asyncio.to_thread

    a = await run(_client, url, KEY_A)
    b = await run(_client, url, KEY_B)
    # deriving again returns the same credentials (create fails, derive answers)
    again = await run(ClobClient(url, key=KEY_A, chain_id=137).create_or_derive_api_creds)
    assert again.api_key == a.creds.api_key

    assert await run(a.get_ok) == "OK"
    assert isinstance(await run(a.get_server_time), int)
    version = await run(httpx.get, url + "/version")
    assert version.json() == {"version": 1}

    markets = await run(a.get_markets)
    assert markets["next_cursor"] == "LTE="
    listed = markets["data"][0]
    assert listed["condition_id"] == market.condition_id
    yes, no = (t["token_id"] for t in listed["tokens"])

    # B rests a BUY of NO at 0.45: the YES book shows it as an ask at 0.55 (mirror)
    order_b = await run(b.create_order, OrderArgs(token_id=no, price=0.45, size=10, side=BUY))
    resp_b = await run(b.post_order, order_b, OrderType.GTC)
    assert resp_b["success"] and resp_b["status"] == "live"
    book = await run(a.get_order_book, yes)
    assert [(o.price, o.size) for o in book.asks] == [("0.55", "10")]
    assert book.tick_size == "0.01" and book.bids == []
    assert a.get_order_book_hash(book) == book.hash

    # A buys YES at 0.55: a mint match against B's resting order
    order_a = await run(a.create_order, OrderArgs(token_id=yes, price=0.55, size=10, side=BUY))
    resp_a = await run(a.post_order, order_a, OrderType.GTC)
    assert resp_a["success"] and resp_a["status"] == "matched"
    assert resp_a["makingAmount"] == "5.5" and resp_a["takingAmount"] == "10"
    trades = await run(a.get_trades)
    assert len(trades) == 1 and trades[0]["maker_orders"][0]["order_id"] == resp_b["orderID"]
    bal = await run(
        a.get_balance_allowance,
        BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=yes),
    )
    assert bal["balance"] == "10000000"
    cash = await run(
        a.get_balance_allowance, BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    )
    assert cash["balance"] == str(994_500_000)  # 1000 - 5.5 USDC in 6-decimal units
    b_no = await run(
        b.get_balance_allowance,
        BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=no),
    )
    assert b_no["balance"] == "10000000"

    # A rests a bid, sees it among open orders, cancels it
    order_c = await run(a.create_order, OrderArgs(token_id=yes, price=0.3, size=20, side=BUY))
    resp_c = await run(a.post_order, order_c, OrderType.GTC)
    assert resp_c["status"] == "live"
    open_orders = await run(a.get_orders, OpenOrderParams(asset_id=yes))
    assert [o["id"] for o in open_orders] == [resp_c["orderID"]]
    canceled = await run(a.cancel, resp_c["orderID"])
    assert canceled["canceled"] == [resp_c["orderID"]]
    assert await run(a.get_orders) == []
    assert (await run(a.get_order, resp_c["orderID"]))["status"] == "CANCELED"

    # a market BUY for $2 (the SDK prices it from /book, best ask last) against B's new ask
    order_d = await run(b.create_order, OrderArgs(token_id=no, price=0.6, size=10, side=BUY))
    assert (await run(b.post_order, order_d, OrderType.GTC))["status"] == "live"
    market_buy = await run(
        a.create_market_order, MarketOrderArgs(token_id=yes, amount=2, side=BUY)
    )
    resp_d = await run(a.post_order, market_buy, OrderType.FOK)
    assert resp_d["status"] == "matched" and resp_d["makingAmount"] == "2"
    assert resp_d["takingAmount"] == "5"  # $2 at 0.40 per share

    # the same signed order posted again is refused as a duplicate
    with pytest.raises(PolyApiException) as err:
        await run(a.post_order, order_c, OrderType.GTC)
    assert "Duplicated" in str(err.value.error_msg)  # the venue's prose (venues/polymarket/errors.py)
    assert a.get_address() == ADDR_A
