"""Venue rules of the local Polymarket: default scenario, neg-risk/fees, ticks, GTD, batches."""

from __future__ import annotations

import time

import aiohttp
import pytest

from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size, parse_money, parse_price, parse_tick
from arbiter.sim.common import ScenarioMarket, ScenarioSpec, load_scenario
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.exchange import SimReject
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.base import Action, OrderRequest, OrderStatus, RejectedError, TimeInForce
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient, TokenMeta
from arbiter.venues.polymarket.rest import PolymarketRest
from tests.sim.polymarket.conftest import (
    ADDR_A,
    ADDR_B,
    KEY_A,
    KEY_B,
    SAFE_B,
    SimHandle,
    place_raw,
)

pytestmark = pytest.mark.integration


def _creds(key: str, funder: str | None = None) -> PolymarketCredentials:
    env = {"POLYMARKET_PRIVATE_KEY": key, **({"POLYMARKET_FUNDER": funder} if funder else {})}
    return PolymarketCredentials.from_env(env)


async def test_default_scenario_lists_markets_with_makers_on_both_tokens() -> None:
    spec = load_scenario(None)
    sim = PolymarketSim(build_exchange(spec, seed=9), scenario=spec, seed=9)
    await sim.start()
    rest = PolymarketRest(sim.url)
    try:
        markets = await rest.all_markets()
        assert [m["question"] for m in markets] == [m.title for m in spec.markets]
        for listed in markets:
            yes, no = (t["token_id"] for t in listed["tokens"])
            b_yes, b_no = await rest.book(yes), await rest.book(no)
            assert b_yes.bids and b_yes.asks and b_no.bids and b_no.asks
            # the NO book mirrors the YES book: best NO bid = 1 - best YES ask
            best_yes_ask = min(parse_price(lv.price) for lv in b_yes.asks)
            best_no_bid = max(parse_price(lv.price) for lv in b_no.bids)
            assert best_yes_ask + best_no_bid == 10_000
            # bids ascending, asks descending: the best level is last (as the SDK reads it)
            assert b_yes.bids[-1].price == max((lv.price for lv in b_yes.bids), key=float)
            assert b_yes.asks[-1].price == min((lv.price for lv in b_yes.asks), key=float)
        page = await rest.markets_page()
        assert page["next_cursor"] == "LTE=" and page["count"] == len(spec.markets)
        sim.step_makers()  # the walk moves quotes without ever crossing its own book
        for m in sim.exchange.markets.values():
            bid, ask = m.top(m.yes_token)
            assert bid is not None and ask is not None and bid < ask
    finally:
        await rest.close()
        await sim.stop()


async def test_neg_risk_market_with_fees_and_safe_funder() -> None:
    market = ScenarioMarket(
        key="NR", title="Neg-risk market", fair=Price(5000), volatility_ticks=0,
        venues={"polymarket": {"neg_risk": True, "fee_rate": "0.07", "tick_size": "0.001"}},
    )
    spec = ScenarioSpec("nr", (market,))
    exchange = build_exchange(spec, seed=3)
    exchange.fund(ADDR_A, collateral=1000 * 10**10)
    exchange.fund(SAFE_B, collateral=1000 * 10**10)
    exchange.register_funder(SAFE_B, ADDR_B, 2)
    sim = PolymarketSim(exchange, scenario=None)
    await sim.start()
    m = next(iter(exchange.markets.values()))
    a = await PolymarketClient.connect(_creds(KEY_A), sim.url)
    b = await PolymarketClient.connect(_creds(KEY_B, SAFE_B), sim.url)
    try:
        meta = await a.token_meta(m.yes_token)
        assert (meta.tick, meta.neg_risk, meta.fee_bps) == (10, True, 1000)
        rest = await a.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                                Price(4010), Size(10_000_000), "nr-a"))
        assert rest.status is OrderStatus.OPEN
        sell = await b.place_order(OrderRequest(m.no_token, Outcome.NO, Action.BUY,
                                                Price(5990), Size(10_000_000), "nr-b"))
        assert sell.status is OrderStatus.FILLED
        (fill,) = await b.fills()
        # taker BUY 10 at 0.599 on a crypto market (fd.r 0.07, e 1; the legacy base fee is 1000):
        # 10 x 0.07 x 0.599 x 0.401 = 0.1681393 pUSD, floored to 0.16813, on top of the notional;
        # the shares arrive in full (docs /trading/fees, CLOB V2)
        assert fill.fee == parse_money("0.16813")
        # the order's answer has no fee field: the client bounds it from the curve (never below)
        assert sell.fees == parse_money("0.16814") >= fill.fee
        wallet = exchange.wallet(SAFE_B)
        assert wallet.tokens[m.no_token] == 10_000_000
        assert wallet.collateral == parse_money("1000") - parse_money("5.99") - fill.fee
        assert exchange.wallet(ADDR_A).collateral == parse_money("1000") - parse_money("4.01")
    finally:
        await a.close()
        await b.close()
        await sim.stop()


async def test_tick_change_rejects_old_grid_and_client_recovers(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    client = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    try:
        await client.token_meta(m.yes_token)
        bare_sim.exchange.set_tick(m, parse_tick("0.001"), time.time_ns())
        fine = OrderRequest(m.yes_token, Outcome.YES, Action.BUY, Price(4510), Size(10_000_000),
                            "fine")
        with pytest.raises(RejectedError):  # cached 0.01 grid: refused locally, meta is fresh
            await client.place_order(fine)
        client._meta[m.yes_token] = TokenMeta(100, False, 0, 0.0)  # as if read long ago
        ack = await client.place_order(fine)  # stale cache: re-read, signed on the new grid
        assert ack.status is OrderStatus.OPEN
        bare_sim.exchange.set_tick(m, parse_tick("0.01"), time.time_ns())
        client.note_tick(m.yes_token, 10)
        coarse = OrderRequest(m.yes_token, Outcome.YES, Action.BUY, Price(4520),
                              Size(10_000_000), "coarse")
        with pytest.raises(RejectedError) as err:
            await client.place_order(coarse)
        assert err.value.code == "INVALID_ORDER_MIN_TICK_SIZE"
        with pytest.raises(RejectedError) as err:  # retry: the new tick is known now
            await client.place_order(coarse)
        assert err.value.code == "INVALID_ORDER"
    finally:
        await client.close()


async def test_gtd_expiry_releases_funds_and_emits_cancellation(bare_sim: SimHandle) -> None:
    m, ex = bare_sim.market, bare_sim.exchange
    client = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    events: list[dict[str, object]] = []
    ex.on_user = lambda owner, event: events.append(event)
    try:
        expires = int(time.time()) + 240
        ack = await client.place_order(OrderRequest(
            m.yes_token, Outcome.YES, Action.BUY, Price(4000), Size(10_000_000), "gtd",
            expires_at_s=expires))
        assert ex.wallet(ADDR_A).reserved_collateral == 4000 * 10_000_000
        # the venue retires a GTD order one minute before its stated expiration
        ex.expire((expires - 61) * 1_000_000_000)
        assert ex.wallet(ADDR_A).reserved_collateral == 4000 * 10_000_000
        ex.expire((expires - 59) * 1_000_000_000)
        assert ex.wallet(ADDR_A).reserved_collateral == 0
        assert (await client.get_order(ack.order_id)).status is OrderStatus.CANCELED
        assert events[-1]["type"] == "CANCELLATION"
    finally:
        await client.close()


async def test_batch_orders_cancel_all_and_trading_modes(bare_sim: SimHandle) -> None:
    m, ex = bare_sim.market, bare_sim.exchange
    client = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    try:
        signed = [await client.sign(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                                 Price(3000 + 100 * i), Size(5_000_000),
                                                 f"batch-{i}")) for i in range(3)]
        import json

        api = client.credentials.api
        assert api is not None
        body = json.dumps([s.body(api.api_key) for s in signed], separators=(",", ":"))
        answers = await client.rest.request("POST", "/orders", body=body, auth="l2")
        assert [a["status"] for a in answers] == ["live"] * 3
        assert len(await client.open_orders()) == 3
        gone = await client.rest.cancel_all()
        assert sorted(gone["canceled"]) == sorted(s.order_hash for s in signed)
        async with aiohttp.ClientSession() as s:
            await s.post(bare_sim.url + "/_sim/mode", json={"mode": "cancel-only"},
                         headers=bare_sim.sim.admin_headers())
        with pytest.raises(Exception) as err:
            await client.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                                  Price(3000), Size(5_000_000), "blocked"))
        assert "cancel-only" in str(err.value)
        ex.trading_mode = "on"
        with pytest.raises(SimReject):
            ex.derive_api_key(ADDR_B, 5)
        place_raw(ex, m, m.yes_token, "SELL", 6000, 5_000_000)
        fok = await client.place_order(OrderRequest(m.yes_token, Outcome.YES, Action.BUY,
                                                    Price(6000), Size(5_000_000), "fok",
                                                    tif=TimeInForce.FOK))
        assert fok.status is OrderStatus.FILLED
    finally:
        await client.close()


async def test_documented_rate_limits_answer_429() -> None:
    from arbiter.venues.base import RateLimitedError
    from tests.sim.polymarket.conftest import one_market_spec

    spec = one_market_spec()
    sim = PolymarketSim(build_exchange(spec, seed=2), rate_limit_scale=0.002)  # /book: 3 per 10 s
    await sim.start()
    rest = PolymarketRest(sim.url)
    try:
        token = next(iter(sim.exchange.markets.values())).yes_token
        for _ in range(3):
            await rest.book(token)
        with pytest.raises(RateLimitedError) as err:
            await rest.book(token)
        assert err.value.message == "Too Many Requests"
        assert await rest.server_time() > 0  # other endpoints still have budget
    finally:
        await rest.close()
        await sim.stop()


async def test_gtd_needs_three_minutes_of_lead_time(bare_sim: SimHandle) -> None:
    """The client refuses a GTD under 180 s before signing (polymarket-client's check); the
    venue refuses one signed anyway with the sentence the SDK maps to ``invalid_expiration``."""
    from arbiter.venues.polymarket.constants import SIDE_BUY, VERSIONS
    from arbiter.venues.polymarket.orders import OrderSpec, build_order

    m, ex = bare_sim.market, bare_sim.exchange
    client = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    try:
        before = len(ex.orders)
        with pytest.raises(RejectedError) as err:
            await client.place_order(OrderRequest(
                m.yes_token, Outcome.YES, Action.BUY, Price(4000), Size(5_000_000), "gtd-short",
                expires_at_s=int(time.time()) + 170))
        assert err.value.code == "INVALID_ORDER_EXPIRATION"
        assert "gtd-short" not in client._signed  # nothing was signed
        assert len(ex.orders) == before
        creds = client.credentials
        for lead, accepted in ((120, False), (200, True)):
            spec = OrderSpec(token_id=m.yes_token, side=SIDE_BUY, price=4000, size=5_000_000,
                             tick=m.tick, order_type="GTD",
                             expiration=int(time.time()) + lead, salt=lead)
            signed = build_order(spec, creds.signer, creds.chain_id, VERSIONS[ex.version])
            if accepted:
                assert (await client.rest.post_order(signed)).status == "live"
                continue
            with pytest.raises(RejectedError) as refused:
                await client.rest.post_order(signed)
            assert refused.value.message == "invalid expiration"
            assert refused.value.code == "INVALID_ORDER_EXPIRATION"
        ack = await client.place_order(OrderRequest(
            m.yes_token, Outcome.YES, Action.BUY, Price(4000), Size(5_000_000), "gtd-ok",
            expires_at_s=int(time.time()) + 185))
        assert ack.status is OrderStatus.OPEN
    finally:
        await client.close()


def test_the_market_not_the_id_rule_of_the_client_decides_its_protocol() -> None:
    from arbiter.sim.common import SimConfigError
    from arbiter.sim.polymarket.builder import market_from_scenario

    def market(**pm: str) -> ScenarioMarket:
        return ScenarioMarket(key="K", title="t", fair=5000, venues={"polymarket": dict(pm)})

    assert not market_from_scenario(market()).position_ids  # hashed CTF token ids
    assert market_from_scenario(market(protocol="v2")).position_ids
    assert market_from_scenario(market(yes_token="1111", no_token="2222")).position_ids
    with pytest.raises(SimConfigError):
        market_from_scenario(market(yes_token="1111"))  # one position id, one hash
