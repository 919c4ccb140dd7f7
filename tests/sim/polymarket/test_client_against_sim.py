"""Our PolymarketClient against the local Polymarket: orders, fills, idempotency, errors."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size, parse_money
from arbiter.venues.base import (
    Action,
    AuthError,
    ExchangeClient,
    NotFoundError,
    OrderRequest,
    OrderStatus,
    RateLimitedError,
    RejectedError,
    TimeInForce,
    TransientError,
)
from arbiter.venues.polymarket.auth import ApiCreds, PolymarketCredentials, l2_headers
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.constants import V1
from arbiter.venues.polymarket.orders import OrderSpec, build_order
from arbiter.venues.polymarket.rest import PolymarketRest
from arbiter.venues.polymarket.signing import Signer
from tests.sim.polymarket.conftest import ADDR_A, KEY_A, KEY_B, SAFE_B, SimHandle, place_raw

pytestmark = pytest.mark.integration


def _creds(key: str, funder: str | None = None) -> PolymarketCredentials:
    env = {"POLYMARKET_PRIVATE_KEY": key}
    if funder:
        env["POLYMARKET_FUNDER"] = funder
    return PolymarketCredentials.from_env(env)


def _req(token: str, action: Action, price: str, size: str, cid: str,
         tif: TimeInForce = TimeInForce.GTC, **kw: object) -> OrderRequest:
    from arbiter.core.units import parse_price, parse_size

    return OrderRequest(market=token, outcome=Outcome.YES, action=action,
                        price=parse_price(price), size=parse_size(size),
                        client_order_id=cid, tif=tif, **kw)  # type: ignore[arg-type]


async def test_place_fill_cancel_and_account_views(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    a = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    b = await PolymarketClient.connect(_creds(KEY_B, SAFE_B), bare_sim.url)
    try:
        assert isinstance(a, ExchangeClient)
        assert a.exchange_version == 1  # asked GET /version
        bid = await a.place_order(_req(m.yes_token, Action.BUY, "0.40", "10", "a-1"))
        assert bid.status is OrderStatus.OPEN and bid.remaining == Size(10_000_000)
        assert [o.order_id for o in await a.open_orders(m.yes_token)] == [bid.order_id]

        # B (a Safe funder, signature type 2) buys NO at 0.60: mints against A's bid
        taker = await b.place_order(_req(m.no_token, Action.BUY, "0.60", "10", "b-1"))
        assert taker.status is OrderStatus.FILLED and taker.filled == Size(10_000_000)
        assert taker.avg_fill_price == Price(6000)
        done = await a.get_order(client_order_id="a-1")
        assert done.status is OrderStatus.FILLED and done.remaining == 0
        assert await a.open_orders() == []

        a_fills, b_fills = await a.fills(), await b.fills()
        assert [(f.is_taker, f.price, f.size) for f in a_fills] == [(False, 4000, 10_000_000)]
        assert [(f.is_taker, f.price, f.size, f.action) for f in b_fills] == [
            (True, 6000, 10_000_000, Action.BUY)
        ]
        assert a_fills[0].client_order_id == "a-1"
        assert await a.balance() == parse_money("996")
        assert await b.balance() == parse_money("994")  # the Safe paid, not the EOA
        (pos,) = await b.positions()
        assert (pos.market, pos.size) == (m.no_token, Size(10_000_000))

        # cancel path
        rest = await a.place_order(_req(m.yes_token, Action.BUY, "0.30", "7", "a-2"))
        canceled = await a.cancel_order(rest.order_id)
        assert canceled.status is OrderStatus.CANCELED and canceled.client_order_id == "a-2"
        assert await a.balance() == parse_money("996")  # reservation released
    finally:
        await a.close()
        await b.close()


async def test_retry_after_lost_response_never_doubles(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    client = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    try:
        bare_sim.sim.lose_order_responses = 1
        req = _req(m.yes_token, Action.BUY, "0.42", "12.5", "retry-1")
        with pytest.raises(TransientError):
            await client.place_order(req)
        ack = await client.place_order(req)  # the caller's retry
        assert ack.status is OrderStatus.OPEN and ack.client_order_id == "retry-1"
        opened = await client.open_orders()
        assert [o.order_id for o in opened] == [ack.order_id]
        assert len(bare_sim.exchange.orders) == 1
        # a different order under the same client id is refused locally
        with pytest.raises(RejectedError, match="CLIENT_ORDER_ID_REUSED"):
            await client.place_order(_req(m.yes_token, Action.BUY, "0.43", "12.5", "retry-1"))
    finally:
        await client.close()


async def test_v2_signed_orders_and_fok_fak(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    bare_sim.exchange.version = 2  # GET /version answers 2: the client signs V2 by itself
    a = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    b = await PolymarketClient.connect(_creds(KEY_B), bare_sim.url, exchange_version=1)
    try:
        assert a.exchange_version == 2
        ask = await b.place_order(_req(m.no_token, Action.BUY, "0.45", "10", "b-ask"))
        assert ask.status is OrderStatus.OPEN  # YES ask at 0.55
        with pytest.raises(RejectedError) as err:
            await a.place_order(_req(m.yes_token, Action.BUY, "0.55", "20", "fok",
                                     tif=TimeInForce.FOK))
        assert err.value.code == "FOK_ORDER_NOT_FILLED_ERROR"
        fak = await a.place_order(_req(m.yes_token, Action.BUY, "0.56", "20", "fak",
                                       tif=TimeInForce.IOC))
        assert fak.status is OrderStatus.CANCELED and fak.filled == Size(10_000_000)
        assert fak.avg_fill_price == Price(5500)  # price improvement: the maker's level
        assert await a.balance() == parse_money("994.5")
    finally:
        await a.close()
        await b.close()


async def test_venue_rejections_are_typed(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    client = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    try:
        with pytest.raises(RejectedError) as err:
            await client.place_order(_req(m.yes_token, Action.BUY, "0.5", "2", "small"))
        assert err.value.code == "INVALID_ORDER_MIN_SIZE"
        with pytest.raises(RejectedError) as err:
            await client.place_order(_req(m.yes_token, Action.BUY, "0.5", "5000", "big"))
        assert err.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
        with pytest.raises(RejectedError) as err:
            await client.place_order(_req(m.yes_token, Action.SELL, "0.5", "10", "no-tokens"))
        assert err.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
        with pytest.raises(RejectedError) as err:  # off the 0.01 grid: refused before sending
            await client.place_order(_req(m.yes_token, Action.BUY, "0.505", "10", "tick"))
        assert err.value.code == "INVALID_ORDER"
        with pytest.raises(RejectedError) as err:
            await client.place_order(_req(m.yes_token, Action.BUY, "0.5", "10", "gtd",
                                          expires_at_s=int(time.time()) + 5))
        assert err.value.code == "INVALID_ORDER_EXPIRATION"
        gtd = await client.place_order(_req(m.yes_token, Action.BUY, "0.5", "10", "gtd2",
                                            expires_at_s=int(time.time()) + 3600))
        assert gtd.status is OrderStatus.OPEN
        place_raw(bare_sim.exchange, m, m.yes_token, "SELL", 5200, 10_000_000)
        with pytest.raises(RejectedError) as err:
            await client.place_order(_req(m.yes_token, Action.BUY, "0.53", "10", "po",
                                          post_only=True))
        assert err.value.code == "INVALID_POST_ONLY_ORDER"
        maker = await client.place_order(_req(m.yes_token, Action.BUY, "0.51", "10", "po2",
                                              post_only=True))
        assert maker.status is OrderStatus.OPEN
    finally:
        await client.close()


async def _raw_post(url: str, path: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.post(url + path, data=body.encode(),
                                                    headers=headers) as r:
        return r.status, await r.text()


async def test_tampered_requests_are_rejected(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    rest = PolymarketRest(bare_sim.url, _creds(KEY_A))
    try:
        api = await rest.create_or_derive_api_key()
        signer = Signer(KEY_A)
        spec = OrderSpec(token_id=m.yes_token, side=0, price=Price(5000), size=Size(10_000_000),
                         tick=100, salt=42)
        signed = build_order(spec, signer, 137, V1)
        body = signed.serialize(api.api_key)
        now = int(time.time())

        def hdr(b: str, creds: ApiCreds = api, ts: int = now) -> dict[str, str]:
            return l2_headers(signer.address, creds, "POST", "/order", b, timestamp=ts)

        # body changed after the HMAC was computed
        tampered = body.replace('"salt":42', '"salt":43')
        status, text = await _raw_post(bare_sim.url, "/order", tampered, hdr(body))
        assert (status, json.loads(text)) == (401, {"error": "Unauthorized/Invalid api key"})
        # wrong secret, wrong passphrase, stale timestamp
        bad = ApiCreds(api.api_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", api.passphrase)
        assert (await _raw_post(bare_sim.url, "/order", body, hdr(body, bad)))[0] == 401
        wrong_pass = ApiCreds(api.api_key, api.secret, "nope")
        assert (await _raw_post(bare_sim.url, "/order", body, hdr(body, wrong_pass)))[0] == 401
        assert (await _raw_post(bare_sim.url, "/order", body, hdr(body, ts=now - 3600)))[0] == 401
        # signed struct tampered (amount changed, HMAC recomputed): signature no longer matches
        forged = body.replace('"makerAmount":"5000000"', '"makerAmount":"4000000"')
        status, text = await _raw_post(bare_sim.url, "/order", forged, hdr(forged))
        assert status == 400 and "invalid signature" in text
        # signed by B but claiming A as signer
        other = build_order(spec, Signer(KEY_B), 137, V1).order_json()
        other["signer"] = other["maker"] = ADDR_A
        claim = json.dumps({"order": other, "owner": api.api_key, "orderType": "GTC",
                            "postOnly": False}, separators=(",", ":"))
        status, text = await _raw_post(bare_sim.url, "/order", claim, hdr(claim))
        assert status == 400 and "invalid signature" in text
        # signed for the neg-risk exchange although the market is not neg-risk
        wrong_domain = build_order(
            OrderSpec(token_id=m.yes_token, side=0, price=Price(5000), size=Size(10_000_000),
                      tick=100, salt=44, neg_risk=True), signer, 137, V1,
        ).serialize(api.api_key)
        status, text = await _raw_post(bare_sim.url, "/order", wrong_domain, hdr(wrong_domain))
        assert status == 400 and "invalid signature" in text
        # owner is not the API key
        alien = signed.serialize("someone-else")
        status, text = await _raw_post(bare_sim.url, "/order", alien, hdr(alien))
        assert status == 400 and "owner" in text
        # L1 with a signature over another timestamp
        from arbiter.venues.polymarket.auth import l1_headers

        h = l1_headers(signer, 137, 0, timestamp=now)
        h["POLY_TIMESTAMP"] = str(now + 1)
        async with aiohttp.ClientSession() as s, s.get(
            bare_sim.url + "/auth/derive-api-key", headers=h
        ) as r:
            assert (r.status, await r.json()) == (401, {"error": "Invalid L1 Request headers"})
        # the untampered order goes through
        status, text = await _raw_post(bare_sim.url, "/order", body, hdr(body))
        assert status == 200 and json.loads(text)["orderID"] == signed.order_hash
        assert len(bare_sim.exchange.orders) == 1
    finally:
        await rest.close()


async def test_http_faults_map_to_typed_errors(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    rest = PolymarketRest(bare_sim.url, _creds(KEY_A))
    try:
        bare_sim.sim.faults.update({"http_burst": [429, 1]})
        with pytest.raises(RateLimitedError):
            await rest.book(m.yes_token)
        bare_sim.sim.faults.update({"http_burst": [503, 1]})
        with pytest.raises(TransientError):
            await rest.book(m.yes_token)
        anonymous = PolymarketRest(bare_sim.url)
        try:
            with pytest.raises(AuthError):
                await anonymous.request("GET", "/data/orders")
            with pytest.raises(NotFoundError):
                await anonymous.book("123")
        finally:
            await anonymous.close()
        book = await rest.book(m.yes_token)
        assert book.asset_id == m.yes_token and book.tick_size == "0.01"
    finally:
        await rest.close()
