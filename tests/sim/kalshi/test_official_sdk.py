"""The legacy official ``kalshi_python_sync`` 3.2.0 SDK, unchanged, against the local Kalshi in
its explicit SDK-era mode (``legacy_sdk``: the live venue answers 3.2.0's order endpoint with 410;
the current SDK 3.34.0 is tested against the default, live-like venue in test_current_sdk.py).

Runs the SDK in a worker thread (it is synchronous) while the simulator serves on the test's
event loop. Every request the SDK makes is signed by the SDK's own code and verified by ours.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kalshi_python_sync as kalshi
import pytest
from kalshi_python_sync.exceptions import UnauthorizedException

from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import OTHER, TRADER, make_key


def sdk_client(sim: KalshiSim, key_id: str = TRADER, key_owner: str = TRADER) -> Any:
    config = kalshi.Configuration(host=sim.rest_url)
    config.api_key_id = key_id
    config.private_key_pem = make_key(key_owner).private_pem.decode()
    return kalshi.KalshiClient(config)


@pytest.mark.integration
async def test_official_sdk_full_session(legacy_sim: KalshiSim) -> None:
    sim = legacy_sim
    def session() -> dict[str, Any]:
        c = sdk_client(sim)
        out: dict[str, Any] = {}
        markets = c.get_markets(status="open")
        out["tickers"] = sorted(m.ticker for m in markets.markets)
        out["market"] = c.get_market("KXSTATIC-A").market
        out["book"] = c.get_market_orderbook("KXSTATIC-A").orderbook
        created = c.create_order(ticker="KXSTATIC-A", side="yes", action="buy", count=3,
                                 yes_price=35, client_order_id="sdk-1")
        out["created"] = created.order
        out["resting"] = c.get_orders(status="resting").orders
        out["cancelled"] = c.cancel_order(created.order.order_id)
        taken = c.create_order(ticker="KXSTATIC-A", side="no", action="buy", count=2,
                               no_price=60, client_order_id="sdk-2",
                               time_in_force="immediate_or_cancel")
        out["taken"] = taken.order
        out["balance"] = c.get_balance()
        out["positions"] = c.get_positions()
        out["fills"] = c.get_fills().fills
        return out

    r = await asyncio.to_thread(session)
    assert r["tickers"] == ["KXSTATIC-A", "KXSTATIC-B"]
    assert r["market"].status == "active" and r["market"].yes_bid == 39
    assert r["book"].yes_dollars[-1] == ["0.3900", "50.00"]
    assert r["book"].no_dollars[-1] == ["0.5900", "50.00"]
    assert r["created"].status.value == "resting" and r["created"].remaining_count == 3
    assert [o.client_order_id for o in r["resting"]] == ["sdk-1"]
    assert r["cancelled"].order.status.value == "canceled" and r["cancelled"].reduced_by == 3
    # buy NO at 0.60 = sell YES at 0.40, above the best YES bid 0.39: IOC finds nothing
    assert r["taken"].status.value == "canceled" and r["taken"].fill_count == 0
    assert r["balance"].balance == 1_000_000  # $10,000.00 in cents, nothing spent
    assert r["positions"].market_positions == [] and r["fills"] == []


@pytest.mark.integration
async def test_official_sdk_fill_balance_and_positions(legacy_sim: KalshiSim) -> None:
    sim = legacy_sim
    def session() -> tuple[Any, Any, Any, Any]:
        c = sdk_client(sim)
        order = c.create_order(ticker="KXSTATIC-A", side="yes", action="buy", count=4,
                               yes_price_dollars="0.4100", client_order_id="sdk-take",
                               time_in_force="immediate_or_cancel").order
        return order, c.get_balance(), c.get_positions(), c.get_fills().fills

    order, balance, positions, fills = await asyncio.to_thread(session)
    assert order.status.value == "executed" and order.fill_count == 4
    assert order.taker_fees == 7  # ceil(0.07 x 4 x 0.41 x 0.59 = 0.0677) = 7 cents
    # $10,000 - 4 x $0.41 - $0.07
    assert balance.balance == 1_000_000 - 164 - 7
    (pos,) = positions.market_positions
    assert (pos.ticker, pos.position, pos.market_exposure, pos.fees_paid) == (
        "KXSTATIC-A", 4, 164, 7)
    assert positions.event_positions[0].event_ticker == "KXSTATIC"
    (fill,) = fills
    assert (fill.side, fill.action, fill.count, fill.yes_price, fill.is_taker) == (
        "yes", "buy", 4, 41, True)


@pytest.mark.integration
async def test_official_sdk_with_a_wrong_key_is_refused(legacy_sim: KalshiSim) -> None:
    sim = legacy_sim
    def session() -> None:
        sdk_client(sim, key_id=TRADER, key_owner=OTHER).get_balance()

    with pytest.raises(UnauthorizedException):
        await asyncio.to_thread(session)
    assert sim.stats["auth_failures"] == 1
