"""The local Kalshi verifies every signature like the venue and answers with its 401 shapes."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from yarl import URL

from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.kalshi.signing import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP
from tests.venues.kalshi.support import OTHER, TRADER, make_key

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

BALANCE = "/trade-api/v2/portfolio/balance"


async def get(sim: KalshiSim, path: str, headers: dict[str, str] | None = None,
              encoded: bool = False) -> tuple[int, Any]:
    url = URL(f"http://127.0.0.1:{sim.port}{path}", encoded=encoded)
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as resp:
        return resp.status, await resp.json()


def signed(path: str, key_id: str = TRADER, owner: str = TRADER,
           now_ms: int | None = None, method: str = "GET") -> dict[str, str]:
    return make_key(owner).signer().headers(method, path, now_ms=now_ms) | {HEADER_KEY: key_id}


async def test_portfolio_needs_signature(sim: KalshiSim) -> None:
    status, body = await get(sim, BALANCE)
    assert status == 401
    assert body["error"]["code"] == "authentication_error"
    assert body["error"]["details"] == "signature_is_missing"
    partial = signed(BALANCE)
    del partial[HEADER_SIGNATURE]
    status, body = await get(sim, BALANCE, partial)
    assert status == 401 and body["error"]["details"] == "signature_is_missing"


async def test_valid_signature_is_accepted(sim: KalshiSim) -> None:
    status, body = await get(sim, BALANCE, signed(BALANCE))
    assert status == 200 and body["balance"] == 1_000_000


@pytest.mark.parametrize(
    ("case", "code", "details"),
    [
        ("unknown_key", "authentication_error", "NOT_FOUND"),
        ("wrong_key", "authentication_error", "INCORRECT_API_KEY_SIGNATURE"),
        ("old", "header_timestamp_expired", None),
        ("future", "header_timestamp_expired", None),
        ("tampered_ts", "authentication_error", "INCORRECT_API_KEY_SIGNATURE"),
        ("other_path", "authentication_error", "INCORRECT_API_KEY_SIGNATURE"),
        ("other_method", "authentication_error", "INCORRECT_API_KEY_SIGNATURE"),
    ],
)
async def test_bad_signatures_get_the_venue_401(
    sim: KalshiSim, case: str, code: str, details: str | None
) -> None:
    now = int(time.time() * 1000)
    headers = {
        "unknown_key": signed(BALANCE, key_id="nobody"),
        "wrong_key": signed(BALANCE, owner=OTHER),
        "old": signed(BALANCE, now_ms=now - 300_000),  # far outside the 30 s window,
        "future": signed(BALANCE, now_ms=now + 300_000),  # so load cannot flip them
        "tampered_ts": signed(BALANCE, now_ms=now) | {HEADER_TIMESTAMP: str(now + 1)},
        "other_path": signed("/trade-api/v2/portfolio/positions"),
        "other_method": signed(BALANCE, method="POST"),
    }[case]
    status, body = await get(sim, BALANCE, headers)
    assert status == 401
    assert body["error"]["code"] == code
    assert body["error"].get("details") == details
    assert sim.stats["auth_failures"] == 1


async def test_query_string_is_not_signed(sim: KalshiSim) -> None:
    path = "/trade-api/v2/portfolio/orders"
    status, body = await get(sim, f"{path}?status=resting&limit=5", signed(path))
    assert status == 200 and body == {"orders": [], "cursor": ""}


async def test_raw_percent_encoded_path_is_what_gets_verified(sim: KalshiSim) -> None:
    raw = "/trade-api/v2/markets/KXSTATIC%2DA/orderbook"  # %2D is "-"
    status, body = await get(sim, raw, signed(raw), encoded=True)
    assert status == 200 and body["orderbook"]["yes_dollars"]
    decoded = "/trade-api/v2/markets/KXSTATIC-A/orderbook"
    status, body = await get(sim, raw, signed(decoded), encoded=True)
    assert status == 401 and body["error"]["details"] == "INCORRECT_API_KEY_SIGNATURE"


async def test_public_endpoints_work_signed_and_unsigned(sim: KalshiSim) -> None:
    path = "/trade-api/v2/markets"
    assert (await get(sim, path))[0] == 200
    assert (await get(sim, path, signed(path)))[0] == 200
    status, _ = await get(sim, path, signed(path, owner=OTHER))  # signed wrongly: refused
    assert status == 401


async def test_websocket_upgrade_checks_the_signature(sim: KalshiSim) -> None:
    ws_path = "/trade-api/ws/v2"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(sim.ws_url, headers=signed(ws_path, owner=OTHER))
        assert info.value.status == 401
        async with http.ws_connect(sim.ws_url, headers=signed(ws_path)) as ws:
            await ws.send_json({"id": 1, "cmd": "subscribe", "params": {
                "channels": ["orderbook_delta"], "market_tickers": ["KXSTATIC-A"]}})
            assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
            snap = await ws.receive_json(timeout=5)
            assert snap["type"] == "orderbook_snapshot" and snap["seq"] == 1
            assert snap["msg"]["yes_dollars_fp"][-1] == ["0.3900", "50.00"]


async def test_rate_limit_tier_answers_429(tmp_path: Any) -> None:
    from tests.venues.kalshi.support import start_sim

    sim = await start_sim(tmp_path, "static", rate_tier="basic")
    now = [100.0]
    sim.clock = lambda: now[0]  # frozen time: the bucket only refills when we say so
    try:
        statuses = [(await get(sim, BALANCE, signed(BALANCE)))[0] for _ in range(21)]
        assert statuses == [200] * 20 + [429]  # 200 read tokens / 10 per request
        status, body = await get(sim, BALANCE, signed(BALANCE))
        assert (status, body) == (429, {"error": "too many requests"})
        now[0] += 0.06  # 12 tokens back: one more request
        assert (await get(sim, BALANCE, signed(BALANCE)))[0] == 200
        assert (await get(sim, BALANCE, signed(BALANCE)))[0] == 429
    finally:
        await sim.stop()


async def test_private_fill_and_public_trade_channels(sim: KalshiSim) -> None:
    from tests.venues.kalshi.support import client_for
    from tests.venues.kalshi.test_rest import req

    ws_path = "/trade-api/ws/v2"
    async with aiohttp.ClientSession() as http, http.ws_connect(
        sim.ws_url, headers=signed(ws_path)
    ) as ws:
        await ws.send_json({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill", "trade"],
                                                                    "market_tickers": []}})
        acks = [await ws.receive_json(timeout=5) for _ in range(2)]
        assert sorted(a["msg"]["channel"] for a in acks) == ["fill", "trade"]
        async with client_for(sim) as client:
            await client.place_order(req("f1", price=4100, size=2))  # lifts the 0.41 ask
        frames = [await ws.receive_json(timeout=5) for _ in range(2)]
        by_type = {f["type"]: f for f in frames}
        assert by_type["fill"]["msg"]["client_order_id"] == "f1"
        assert by_type["fill"]["msg"]["count_fp"] == "2.00"
        assert by_type["fill"]["msg"]["post_position_fp"] == "2.00"
        assert by_type["trade"]["msg"]["yes_price_dollars"] == "0.4100"
        assert by_type["fill"]["msg"]["trade_id"] == by_type["trade"]["msg"]["trade_id"]
