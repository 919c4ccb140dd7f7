"""The local Kalshi's market lifecycle and market-data channels, over loopback HTTP + WebSocket."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import RejectedError
from tests.sim.kalshi.test_auth import signed
from tests.venues.kalshi.support import client_for
from tests.venues.kalshi.test_rest import req

WS = "/trade-api/ws/v2"
TICKER = "KXSTATIC-A"


async def _admin(sim: KalshiSim, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{sim.port}/_sim/{path}", json=body,
            headers=sim.admin_headers()) as resp:
        return resp.status, await resp.json()


async def _status(sim: KalshiSim, query: str = "") -> dict[str, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{sim.rest_url}/markets{query}") as r:
        return {m["ticker"]: m["status"] for m in (await r.json())["markets"]}


@pytest.mark.integration
async def test_lifecycle_events_statuses_and_order_effects(sim: KalshiSim) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(
            sim.ws_url, headers=signed(WS)) as ws:
        await ws.send_json({"id": 1, "cmd": "subscribe",
                            "params": {"channels": ["market_lifecycle_v2"]}})
        assert (await ws.receive_json(timeout=5))["msg"]["channel"] == "market_lifecycle_v2"
        async with client_for(sim) as client:
            ours = await client.place_order(req("l1", price=3000))
            assert (await _admin(sim, "market", {"ticker": TICKER, "action": "deactivate"}))[0] == 200
            frame = await ws.receive_json(timeout=5)
            assert frame["type"] == "market_lifecycle_v2"
            assert frame["msg"] == {"market_ticker": TICKER, "event_type": "deactivated",
                                    "is_deactivated": True}
            assert (await _status(sim, "?status=paused")) == {TICKER: "inactive"}
            with pytest.raises(RejectedError, match="market_closed"):
                await client.place_order(req("l2", price=3000))
            assert (await client.get_order(ours.order_id)).remaining > 0  # still resting
            await _admin(sim, "market", {"ticker": TICKER, "action": "activate"})
            assert (await ws.receive_json(timeout=5))["msg"]["event_type"] == "activated"
            assert (await client.get_order(ours.order_id)).remaining == 0  # cancelled (docs)
            await _admin(sim, "settle", {"ticker": TICKER, "result": "no"})
            events = [(await ws.receive_json(timeout=5))["msg"] for _ in range(2)]
            assert [(e["event_type"], e["result"]) for e in events] == [
                ("determined", "no"), ("settled", "no")]
            assert (await _status(sim, "?status=settled")) == {TICKER: "finalized"}
        status, body = await _admin(sim, "market", {"ticker": TICKER, "action": "wobble"})
        assert status == 400 and "unknown lifecycle action" in body["error"]["message"]


@pytest.mark.integration
async def test_ticker_frames_follow_the_top_of_book(sim: KalshiSim) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(
            sim.ws_url, headers=signed(WS)) as ws:
        await ws.send_json({"id": 1, "cmd": "subscribe",
                            "params": {"channels": ["ticker"], "market_tickers": [TICKER]}})
        assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
        first = await ws.receive_json(timeout=5)  # the current top, at once
        assert first["type"] == "ticker"
        assert (first["msg"]["yes_bid_dollars"], first["msg"]["yes_ask_dollars"]) == (
            "0.3900", "0.4100")
        async with client_for(sim) as client:
            await client.place_order(req("t1", price=4000, size=3))
        moved = await ws.receive_json(timeout=5)
        assert moved["msg"]["yes_bid_dollars"] == "0.4000"
        assert moved["msg"]["yes_bid_size_fp"] == "3.00"
        assert moved["seq"] == first["seq"] + 1
