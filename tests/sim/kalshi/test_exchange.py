"""Venue accounting of the local Kalshi: matching semantics, balances, positions, settlement."""

from __future__ import annotations

import aiohttp
import pytest

from arbiter.core.units import CENT, MONEY_SCALE, PRICE_SCALE
from arbiter.sim.kalshi.exchange import Exchange, SimError
from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import TRADER, make_key

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

C = 1_000_000  # one contract in size units
D = MONEY_SCALE  # one dollar in money units


def exchange() -> Exchange:
    ex = Exchange(seed=1)
    ex.add_account("a", None, 100 * D)
    ex.add_account("b", None, 100 * D)
    ex.add_market("KXT-1", "test")
    return ex


def test_resting_order_reserves_and_cancel_releases() -> None:
    ex = exchange()
    order, deltas = ex.place("a", "KXT-1", "yes", "buy", 4000, 10 * C, "c1")
    assert order.status == "resting"
    assert deltas == [("KXT-1", "yes", 4000, 10 * C)]
    assert ex.accounts["a"].available == 96 * D
    _, reduced, deltas = ex.cancel("a", order.order_id)
    assert reduced == 10 * C and deltas == [("KXT-1", "yes", 4000, -10 * C)]
    assert ex.accounts["a"].available == 100 * D
    with pytest.raises(SimError) as err:
        ex.cancel("a", order.order_id)
    assert err.value.status == 404


def test_no_bid_rests_on_the_no_ladder_and_crosses_yes_bids() -> None:
    ex = exchange()
    ex.place("a", "KXT-1", "yes", "buy", 4000, 10 * C, "c1")
    no_order, deltas = ex.place("b", "KXT-1", "no", "buy", 5500, 5 * C, "c2")
    assert deltas == [("KXT-1", "no", 5500, 5 * C)]  # 0.40 + 0.55 < 1: no cross
    taker, deltas = ex.place("b", "KXT-1", "no", "buy", 6000, 4 * C, "c3",
                             "immediate_or_cancel")
    assert taker.status == "executed"
    assert deltas == [("KXT-1", "yes", 4000, -4 * C)]
    a, b = ex.accounts["a"], ex.accounts["b"]
    assert a.positions["KXT-1"].net == 4 * C and b.positions["KXT-1"].net == -4 * C
    fee = 7 * CENT  # ceil(0.07 x 4 x 0.40 x 0.60 = 0.0672)
    assert b.cash == 100 * D - 4 * 6000 * C - fee  # paid 0.60 per NO contract
    assert a.cash == 100 * D - 4 * 4000 * C  # maker: no fee
    assert b.fills[0]["is_taker"] and not a.fills[0]["is_taker"]
    assert no_order.status == "resting"


def test_netting_closes_the_opposite_holding() -> None:
    ex = exchange()
    ex.add_account("mm", None, 0, unlimited=True)
    ex.place("mm", "KXT-1", "yes", "sell", 4000, 50 * C, "ask")
    ex.place("mm", "KXT-1", "yes", "buy", 3800, 50 * C, "bid")
    ex.place("a", "KXT-1", "yes", "buy", 4000, 5 * C, "buy", "immediate_or_cancel")
    pos = ex.accounts["a"].positions["KXT-1"]
    assert pos.net == 5 * C and pos.cost == 5 * 4000 * C
    # sell 3 YES at 0.38: closes 3 of the 5, realising (0.38 - 0.40) x 3 minus the fee
    ex.place("a", "KXT-1", "yes", "sell", 3800, 3 * C, "sell", "immediate_or_cancel")
    assert pos.net == 2 * C and pos.cost == 2 * 4000 * C
    fees = pos.fees
    assert pos.realized == -3 * 200 * C - fees
    # buying NO at 0.62 (= selling YES at 0.38) closes the rest and opens NO
    ex.place("a", "KXT-1", "no", "buy", 6200, 4 * C, "no", "immediate_or_cancel")
    assert pos.net == -2 * C and pos.cost == 2 * (PRICE_SCALE - 3800) * C


def test_validation_errors() -> None:
    ex = exchange()
    cases = [
        (dict(ticker="KXNOPE"), 404, "market_not_found"),
        (dict(price=4050), 400, "invalid_price"),
        (dict(count=1_500_000), 400, "invalid_count"),
        (dict(side="maybe"), 400, "invalid_parameters"),
        (dict(count=10_000 * C), 400, "insufficient_balance"),
        (dict(tif_name="immediate_or_cancel", expiration_ts=2_000_000_000), 400,
         "invalid_parameters"),
        (dict(tif_name="fill_or_kill"), 400, "fill_or_kill_insufficient_resting_volume"),
    ]
    for change, status, code in cases:
        args: dict[str, object] = dict(key_id="a", ticker="KXT-1", side="yes", action="buy",
                                       price=4000, count=C, client_order_id="x")
        args.update(change)
        with pytest.raises(SimError) as err:
            ex.place(**args)  # type: ignore[arg-type]
        assert (err.value.status, err.value.code) == (status, code), change
    ex.place("a", "KXT-1", "yes", "buy", 4000, C, "dup")
    with pytest.raises(SimError) as dup:
        ex.place("a", "KXT-1", "yes", "buy", 3900, C, "dup")
    assert dup.value.status == 409
    ex.place("b", "KXT-1", "yes", "sell", 4200, C, "ask")
    with pytest.raises(SimError) as post:
        ex.place("b", "KXT-1", "yes", "buy", 4200, C, "po", post_only=True)
    assert post.value.code == "post_only_rejected"


def test_settlement_pays_winners_and_closes_the_market() -> None:
    ex = exchange()
    ex.place("a", "KXT-1", "yes", "buy", 4000, 10 * C, "y")
    ex.place("b", "KXT-1", "no", "buy", 6000, 10 * C, "n")  # trades with a's bid
    ex.place("a", "KXT-1", "yes", "buy", 3000, 1 * C, "rest")
    cash_a, cash_b = ex.accounts["a"].cash, ex.accounts["b"].cash
    deltas = ex.settle("KXT-1", "yes")
    assert ("KXT-1", "yes", 3000, -C) in deltas
    assert ex.accounts["a"].cash == cash_a + 10 * D
    assert ex.accounts["b"].cash == cash_b
    assert ex.accounts["a"].reserved == 0
    assert ex.markets["KXT-1"].status == "finalized"
    with pytest.raises(SimError):
        ex.place("a", "KXT-1", "yes", "buy", 4000, C, "late")


async def _post(sim: KalshiSim, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    full = f"/trade-api/v2{path}"
    headers = make_key(TRADER).signer().headers("POST", full)
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{sim.port}{full}", json=body, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def test_legacy_and_current_order_forms(legacy_sim: KalshiSim) -> None:
    sim = legacy_sim
    status, body = await _post(sim, "/portfolio/orders", {
        "ticker": "KXSTATIC-A", "side": "no", "action": "buy", "count": 2, "no_price": 55,
        "no_price_dollars": "0.5500", "client_order_id": "L1"})
    assert status == 201
    order = body["order"]
    assert isinstance(order, dict)
    assert (order["yes_price"], order["no_price_dollars"], order["remaining_count_fp"]) == (
        45, "0.5500", "2.00")
    status, body = await _post(sim, "/portfolio/orders", {
        "ticker": "KXSTATIC-A", "side": "yes", "action": "buy", "count": 2, "yes_price": 40,
        "yes_price_dollars": "0.4100", "client_order_id": "L2"})
    assert status == 400 and body["error"]["code"] == "invalid_price"  # type: ignore[index]
    status, body = await _post(sim, "/portfolio/events/orders", {
        "ticker": "KXSTATIC-A", "client_order_id": "V1", "side": "bid", "count": "3.00",
        "price": "0.4100", "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross"})
    assert status == 201
    assert body["fill_count"] == "3.00" and body["remaining_count"] == "0.00"
    assert body["average_fill_price"] == "0.4100" and "ts_ms" in body
    state = sim.exchange.accounts[TRADER]
    assert state.positions["KXSTATIC-A"].net == 3 * C


async def test_by_default_the_legacy_order_endpoints_are_retired(tmp_path: object) -> None:
    from pathlib import Path

    from tests.venues.kalshi.support import start_sim

    sim = await start_sim(Path(str(tmp_path)), "static")
    try:
        status, body = await _post(sim, "/portfolio/orders", {
            "ticker": "KXSTATIC-A", "side": "yes", "action": "buy", "count": 1,
            "yes_price": 30, "client_order_id": "L"})
        assert status == 410
        assert body["error"]["code"] == "deprecated_v1_order_endpoint"  # type: ignore[index]
        status, _ = await _post(sim, "/portfolio/events/orders", {
            "ticker": "KXSTATIC-A", "client_order_id": "V", "side": "bid", "count": "1",
            "price": "0.3000"})
        assert status == 201
    finally:
        await sim.stop()


def test_good_till_time_orders_expire_and_release_their_reservation() -> None:
    ex = exchange()
    order, _ = ex.place("a", "KXT-1", "yes", "buy", 4000, 10 * C, "gtt", expiration_ts=1_000,
                        now_ns=500 * 10**9)
    assert ex.accounts["a"].reserved == 40 * D // 10
    assert ex.expire(now_ns=999 * 10**9) == []
    assert ex.expire(now_ns=1_000 * 10**9) == [("KXT-1", "yes", 4000, -10 * C)]
    assert order.status == "canceled" and ex.accounts["a"].reserved == 0


async def test_admin_settlement_and_trading_switch(sim: KalshiSim) -> None:
    base = f"http://127.0.0.1:{sim.port}"
    status, _ = await _post(sim, "/portfolio/events/orders", {
        "ticker": "KXSTATIC-A", "client_order_id": "s1", "side": "bid", "count": "5",
        "price": "0.4100", "time_in_force": "immediate_or_cancel"})
    assert status == 201
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/_sim/exchange", json={"trading_active": False},
                             headers=sim.admin_headers()) as resp:
            assert (await resp.json()) == {"trading_active": False}
        status, body = await _post(sim, "/portfolio/events/orders", {
            "ticker": "KXSTATIC-A", "client_order_id": "s2", "side": "bid", "count": "1",
            "price": "0.3000"})
        assert status == 400 and body["error"]["code"] == "market_closed"  # type: ignore[index]
        async with http.post(f"{base}/_sim/settle", headers=sim.admin_headers(),
                             json={"ticker": "KXSTATIC-A", "result": "yes"}) as resp:
            assert resp.status == 200
        async with http.get(f"{base}/trade-api/v2/markets/KXSTATIC-A") as resp:
            market = (await resp.json())["market"]
    assert (market["status"], market["result"]) == ("finalized", "yes")
    account = sim.exchange.accounts[TRADER]
    fee = 9 * CENT  # ceil(0.07 x 5 x 0.41 x 0.59 = 0.0847)
    assert account.cash == 10_000 * D - 5 * 4100 * C - fee + 5 * D
    assert account.positions["KXSTATIC-A"].net == 0
    assert sim.exchange.markets["KXSTATIC-A"].book.open_orders() == []


def test_housekeeping_forgets_finished_maker_orders_only() -> None:
    ex = exchange()
    ex.add_account("mm", None, 0, unlimited=True)
    for i in range(50):
        o, _ = ex.place("mm", "KXT-1", "yes", "buy", 3000, C, f"mk-{i}")
        ex.cancel("mm", o.order_id)
    resting, _ = ex.place("mm", "KXT-1", "yes", "buy", 3000, C, "mk-live")
    mine, _ = ex.place("a", "KXT-1", "yes", "buy", 2900, C, "mine")
    ex.cancel("a", mine.order_id)
    assert ex.housekeeping() == 50
    assert set(ex.orders) == {resting.order_id, mine.order_id}
    assert ex.accounts["mm"].order_ids == [] and ex.accounts["a"].order_ids == [mine.order_id]


def test_the_shard_option_pins_markets_and_refuses_a_bad_spec() -> None:
    from arbiter.cli.errors import UsageError
    from arbiter.cli.sim_kalshi import _shards

    assert _shards(["KXSTATIC-B=1", "KXOTHER=2"]) == {"KXSTATIC-B": 1, "KXOTHER": 2}
    assert _shards(None) == {}
    for bad in ("KXSTATIC-B", "=1", "KXSTATIC-B=one"):
        with pytest.raises(UsageError, match="TICKER=INDEX"):
            _shards([bad])


def test_collateral_is_per_shard_and_moves_only_when_funded() -> None:
    ex = exchange()
    ex.markets["KXT-1"].exchange_index = 1
    with pytest.raises(SimError) as poor:  # all cash is on shard 0
        ex.place("a", "KXT-1", "yes", "buy", 4000, 1 * C, "s1")
    assert poor.value.code == "insufficient_balance" and "exchange index 1" in poor.value.message
    with pytest.raises(SimError):
        ex.transfer("a", 0, 1, 1_000 * D)  # more than shard 0 holds
    ex.transfer("a", 0, 1, 1 * D)
    order, _ = ex.place("a", "KXT-1", "yes", "buy", 4000, 1 * C, "s2")
    acct = ex.accounts["a"]
    assert acct.available_on(1) == 1 * D - 4000 * C and acct.available_on(0) == 99 * D
    assert order.shard == 1
