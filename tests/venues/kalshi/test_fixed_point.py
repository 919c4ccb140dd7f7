"""Fixed-point answers read exactly, odd markets skipped, unreadable creates looked up (issue 19).

Sources: docs ``/getting_started/fixed_point_migration`` (computed values up to 6 decimals),
kalshi-python-sync 3.34.0 ``CreateOrderV2Response`` / ``Market`` (every quote field required;
empty sides are the sentinels "0.0000" / "1.0000", venues.md §0.1).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from arbiter.core.book import Outcome
from arbiter.core.units import ONE_CONTRACT, Price, Size
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import Action, OrderRequest, OrderStatus, TimeInForce
from arbiter.venues.kalshi.wire import WireError, ack_from_create, market_from_wire
from tests.venues.kalshi.support import client_for

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

TICKER = "KXSTATIC-A"  # static: YES bids 0.39/0.38/0.37, YES asks 0.41/0.42/0.43, 50 each
C = ONE_CONTRACT
M = 10**10  # Money units per dollar


def _req(outcome: str, action: str, price: int, count: int, cid: str = "c1") -> OrderRequest:
    return OrderRequest(TICKER, Outcome(outcome), Action(action), Price(price), Size(count * C),
                        cid, TimeInForce.IOC)


def test_six_decimal_averages_are_kept_exactly() -> None:
    answer = {"order_id": "o1", "client_order_id": "c1", "fill_count": "3.00",
              "remaining_count": "0.00", "average_fill_price": "0.413333",
              "average_fee_paid": "0.023334", "ts_ms": 1}
    yes = ack_from_create(_req("yes", "buy", 4500, 3), answer)
    assert yes.avg_fill_price is None  # not a whole Price: no rounding into one
    assert yes.fill_cost == 1_239_999 * M // 10**6  # the venue's numbers: 0.413333 x 3
    assert yes.fees == 70_002 * M // 10**6
    no = ack_from_create(_req("no", "buy", 6000, 3), answer)
    assert no.fill_cost == 1_760_001 * M // 10**6  # (1 - 0.413333) x 3, in NO terms
    exact = ack_from_create(_req("yes", "buy", 4500, 3), {**answer, "average_fill_price": "0.41"})
    assert exact.avg_fill_price == 4100 and exact.fill_cost == 4100 * 3 * C
    for bad in ("0.4133331", "1.2000", "abc", 0.41):
        with pytest.raises(WireError):
            ack_from_create(_req("yes", "buy", 4500, 3), {**answer, "average_fill_price": bad})


def test_empty_side_sentinels_are_no_quote_not_a_price() -> None:
    market = {"ticker": "KXE-1", "event_ticker": "KXE", "status": "active",
              "yes_bid_dollars": "0.0000", "yes_ask_dollars": "1.0000",
              "price_level_structure": "linear_cent", "exchange_index": 1}
    m = market_from_wire(market)
    assert (m.yes_bid, m.yes_ask, m.exchange_index) == (None, None, 1)
    m = market_from_wire({**market, "yes_bid_dollars": "0.4200", "yes_ask_dollars": "0.430000"})
    assert (m.yes_bid, m.yes_ask) == (4200, 4300)
    legacy = market_from_wire({"ticker": "KXE-1", "yes_bid": 0, "yes_ask": 100,
                               "status": "open", "price_level_structure": "linear_cent"})
    assert (legacy.yes_bid, legacy.yes_ask, legacy.exchange_index) == (None, None, 0)


async def test_a_create_over_two_levels_costs_what_its_fills_cost(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        # 52 YES at 0.42: 50 @ 0.41 + 2 @ 0.42 averages 0.410385 (rounded by the venue)
        ack = await client.place_order(_req("yes", "buy", 4200, 52))
        assert ack.status is OrderStatus.FILLED
        assert ack.fill_cost == (50 * 4100 + 2 * 4200) * C  # exact, from the order's fills
        # the same over NO: sell YES-equivalent buy NO at 0.63 hits 0.39 then 0.38
        no = await client.place_order(_req("no", "buy", 6300, 51, "c2"))
        assert no.fill_cost == (50 * 6100 + 1 * 6200) * C


async def test_one_odd_market_never_fails_the_page(
    sim: KalshiSim, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = sim.exchange.market_json

    def odd(m: Any, legacy: bool = False) -> dict[str, Any]:
        out = real(m, legacy)
        if m.ticker == "KXSTATIC-B":
            out["yes_bid_dollars"] = "forty-two"
        return out

    monkeypatch.setattr(sim.exchange, "market_json", odd)
    async with client_for(sim) as client:
        with caplog.at_level(logging.WARNING, logger="arbiter.venues.kalshi.rest"):
            markets = await client.markets()
        assert [m.ticker for m in markets] == ["KXSTATIC-A"]
        assert client.skipped_markets == 1
        assert sum("skipped 1 unreadable market" in r.message for r in caplog.records) == 1
        assert "KXSTATIC-B" in caplog.text


async def _post(sim: KalshiSim, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{sim.port}{path}", json=body, headers=sim.admin_headers()
    ) as resp:
        assert resp.status == 200


async def test_an_unreadable_answer_after_a_fill_becomes_a_lookup_not_a_drop(
    sim: KalshiSim,
) -> None:
    await _post(sim, "/_sim/corrupt_next_create", {"fill_count": "lots"})
    # and the first lookups fail too: the client keeps asking, it never resends the order
    await _post(sim, "/_sim/faults", {"http_burst": [503, 2], "http_burst_methods": ["GET"]})
    async with client_for(sim, max_retries=3) as client:
        ack = await client.place_order(_req("yes", "buy", 4500, 5, "unreadable-1"))
        assert ack.status is OrderStatus.FILLED and ack.filled == 5 * C
        assert ack.fill_cost == 4100 * 5 * C
        orders = [o for o in sim.exchange.orders.values() if o.client_order_id == "unreadable-1"]
        assert len(orders) == 1  # placed once


async def test_when_no_lookup_can_read_it_the_outcome_stays_unknown(sim: KalshiSim) -> None:
    from arbiter.venues.base import TransientError

    await _post(sim, "/_sim/corrupt_next_create", {"remaining_count": "seven"})
    await _post(sim, "/_sim/faults", {"http_burst": [503, 100], "http_burst_methods": ["GET"]})
    async with client_for(sim, max_retries=1) as client:
        with pytest.raises(TransientError):  # the executor journals this as unknown
            await client.place_order(_req("yes", "buy", 4500, 5, "unreadable-2"))
    assert [o.client_order_id for o in sim.exchange.orders.values()].count("unreadable-2") == 1
