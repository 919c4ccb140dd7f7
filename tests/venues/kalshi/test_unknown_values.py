"""Unknown is never a default: a Kalshi market whose structure or status we do not know is a
typed error naming it, and is not traded; empty books read as no quote through the client.

Sources: docs ``/getting_started/fixed_point_migration`` (the three price level structures),
``/getting_started/market_lifecycle`` (the statuses; kalshi-python-sync 3.34.0 ``Market``
allows exactly those and requires ``price_level_structure``).
"""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.core.fees import KalshiFeeError
from arbiter.core.lifecycle import MarketPhase
from arbiter.core.price_grid import STRUCTURES
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.kalshi.series import kalshi_pair_updates
from arbiter.venues.kalshi.wire import UnknownMarketValueError, WireError, market_from_wire
from tests.venues.kalshi.support import client_for

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

MARKET: dict[str, Any] = {
    "ticker": "KXE-1", "event_ticker": "KXE", "status": "active",
    "yes_bid_dollars": "0.4200", "yes_ask_dollars": "0.4300",
    "price_level_structure": "tapered_deci_cent",
}


def test_the_market_grid_and_phase_come_from_the_one_readers() -> None:
    m = market_from_wire(MARKET)
    assert m.grid == STRUCTURES["tapered_deci_cent"] and m.tick == 10
    assert m.phase is MarketPhase.ACTIVE and m.status == "active"


@pytest.mark.parametrize(("change", "says"), [
    ({"price_level_structure": "quarter_cent"}, "unknown price level structure 'quarter_cent'"),
    ({"price_level_structure": None}, "neither price_level_structure nor price_ranges"),
    ({"status": "halted"}, "unknown market status 'halted'"),
    ({"status": None}, "unknown market status None"),
])
def test_an_unknown_structure_or_status_is_a_typed_error_naming_the_market(
    change: dict[str, Any], says: str,
) -> None:
    odd = {k: v for k, v in {**MARKET, **change}.items() if v is not None}
    with pytest.raises(UnknownMarketValueError) as info:
        market_from_wire(odd)
    assert "KXE-1" in str(info.value) and says in str(info.value)
    assert isinstance(info.value, WireError)  # the markets page skips and counts it


async def test_the_markets_page_skips_and_counts_a_market_of_unknown_structure(
    sim: KalshiSim, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = sim.exchange.market_json

    def odd(m: Any, legacy: bool = False) -> dict[str, Any]:
        out = real(m, legacy)
        if m.ticker == "KXSTATIC-B":
            out["price_level_structure"] = "quarter_cent"
            out.pop("price_ranges", None)
        return out

    monkeypatch.setattr(sim.exchange, "market_json", odd)
    async with client_for(sim) as client:
        assert [m.ticker for m in await client.markets()] == ["KXSTATIC-A"]
        assert client.skipped_markets == 1
        with pytest.raises(UnknownMarketValueError, match="KXSTATIC-B"):
            await client.market("KXSTATIC-B")
        with pytest.raises(KalshiFeeError, match=r"KXSTATIC-B.*quarter_cent"):
            await client.market_fees("KXSTATIC-B")


async def test_pairs_refresh_reports_a_market_it_cannot_read(
    sim: KalshiSim, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = sim.exchange.market_json

    def odd(m: Any, legacy: bool = False) -> dict[str, Any]:
        out = real(m, legacy)
        if m.ticker == "KXSTATIC-B":
            out["status"] = "halted"
        return out

    monkeypatch.setattr(sim.exchange, "market_json", odd)

    class _Pair:
        def __init__(self, name: str, ticker: str) -> None:
            self.name, self.kalshi_ticker = name, ticker

    async with client_for(sim) as client:
        updates, failed = await kalshi_pair_updates(
            client, [_Pair("a", "KXSTATIC-A"), _Pair("b", "KXSTATIC-B")])
    assert set(updates) == {"a"}
    assert "halted" in failed["b"]


async def test_an_empty_book_is_no_quote_through_the_client(sim: KalshiSim) -> None:
    """A market nobody quotes is served with the sentinels "0.0000" / "1.0000" (as the venue
    does); ``client.market()``, the markets page and ``market_fees`` read it as no quote."""
    sim.exchange.add_market("KXSTATIC-EMPTY", "Nobody quotes this")
    async with client_for(sim) as client:
        raw = await client._request("GET", "/markets/KXSTATIC-EMPTY", auth=False)
        assert (raw["market"]["yes_bid_dollars"], raw["market"]["yes_ask_dollars"]) == (
            "0.0000", "1.0000")
        market = await client.market("KXSTATIC-EMPTY")
        assert (market.yes_bid, market.yes_ask) == (None, None)
        listed = {m.ticker: m for m in await client.markets()}
        assert (listed["KXSTATIC-EMPTY"].yes_bid, listed["KXSTATIC-EMPTY"].yes_ask) == (
            None, None)
        assert client.skipped_markets == 0
        fees = await client.market_fees("KXSTATIC-EMPTY")
        assert fees.series == "KXSTATIC" and fees.fees.fee_type.value == "quadratic"


ORDER: dict[str, Any] = {
    "order_id": "o1", "client_order_id": "c", "ticker": "KXE-1", "outcome_side": "yes",
    "book_side": "bid", "status": "executed", "yes_price_dollars": "0.4500",
    "fill_count_fp": "5.00", "remaining_count_fp": "0.00", "initial_count_fp": "5.00",
    "taker_fees_dollars": "0.0900", "maker_fees_dollars": "0.0000",
}
FILL: dict[str, Any] = {
    "fill_id": "f", "trade_id": "f", "order_id": "o1", "ticker": "KXE-1",
    "outcome_side": "yes", "book_side": "bid", "count_fp": "5.00",
    "yes_price_dollars": "0.4500", "fee_cost": "0.0900", "is_taker": True, "ts": 100,
}


@pytest.mark.parametrize(("drop", "says"), [
    ("taker_fees_dollars", "taker_fees_dollars"), ("maker_fees_dollars", "maker_fees_dollars"),
])
def test_an_order_without_its_fees_is_unreadable_not_free(drop: str, says: str) -> None:
    from arbiter.venues.kalshi.wire import ack_from_order

    assert ack_from_order(ORDER).fees == 9 * 10**8  # $0.09
    with pytest.raises(WireError, match=says):
        ack_from_order({k: v for k, v in ORDER.items() if k != drop})


@pytest.mark.parametrize(("change", "says"), [
    ({"fee_cost": None}, "without fee_cost"),
    ({"is_taker": None}, "is_taker is null"),
    ({"is_taker": "yes"}, "is_taker is str"),
    ({"ts": None}, "without ts_ms, ts or created_time"),
    ({"ts": 0}, "ts 0 is not a timestamp"),
    ({"outcome_side": "maybe", "book_side": None}, "maybe"),
    ({"book_side": "middle"}, "book_side 'middle'"),
    ({"exchange_index": "one"}, "exchange_index"),
])
def test_a_fill_with_an_unknown_fee_side_shard_or_time_is_refused(
    change: dict[str, Any], says: str,
) -> None:
    from arbiter.venues.kalshi.wire import fill_from_wire

    assert fill_from_wire(FILL).fee == 9 * 10**8 and fill_from_wire(FILL).ts_ms == 100_000
    odd = {k: v for k, v in {**FILL, **change}.items() if v is not None}
    if change.get("is_taker", 1) is None:
        odd["is_taker"] = None
    with pytest.raises(WireError, match=says):
        fill_from_wire(odd)


def test_a_filled_create_answer_without_its_fee_becomes_a_lookup() -> None:
    """``average_fee_paid`` is optional in SDK 3.34.0's ``CreateOrderV2Response``; a create
    that filled without it is unreadable (the client looks the order up, whose fees are
    required) rather than a fill that cost nothing."""
    from arbiter.core.book import Outcome
    from arbiter.core.units import Price, Size
    from arbiter.venues.base import Action, OrderRequest
    from arbiter.venues.kalshi.wire import ack_from_create

    req = OrderRequest("KXE-1", Outcome.YES, Action.BUY, Price(4500), Size(5_000_000), "c")
    answer = {"order_id": "o1", "fill_count": "5.00", "remaining_count": "0.00",
              "average_fill_price": "0.4500"}
    with pytest.raises(WireError, match="filled without average_fee_paid"):
        ack_from_create(req, answer)
    assert ack_from_create(req, {**answer, "average_fee_paid": "0.0180"}).fees == 9 * 10**8
    resting = ack_from_create(req, {"order_id": "o2", "fill_count": "0.00",
                                    "remaining_count": "5.00"})
    assert resting.fees == 0  # nothing filled, nothing paid: no fee field needed


@pytest.mark.parametrize("drop", ["fill_count_fp", "remaining_count_fp"])
def test_an_order_that_does_not_say_what_filled_is_unreadable(drop: str) -> None:
    from arbiter.venues.kalshi.wire import ack_from_order

    with pytest.raises(WireError, match="fill_count_fp / remaining_count_fp"):
        ack_from_order({k: v for k, v in ORDER.items() if k != drop})


@pytest.mark.parametrize("drop", ["fill_count", "remaining_count"])
def test_a_create_answer_that_does_not_say_what_filled_becomes_a_lookup(drop: str) -> None:
    """Read as "nothing filled", an IOC that did fill would look like a failed leg."""
    from arbiter.core.book import Outcome
    from arbiter.core.units import Price, Size
    from arbiter.venues.base import Action, OrderRequest
    from arbiter.venues.kalshi.wire import ack_from_create

    req = OrderRequest("KXE-1", Outcome.YES, Action.BUY, Price(4500), Size(5_000_000), "c")
    answer = {"order_id": "o1", "fill_count": "5.00", "remaining_count": "0.00",
              "average_fill_price": "0.4500", "average_fee_paid": "0.0180"}
    with pytest.raises(WireError, match="without fill_count / remaining_count"):
        ack_from_create(req, {k: v for k, v in answer.items() if k != drop})


def test_a_position_without_its_size_is_unknown_not_flat() -> None:
    from arbiter.venues.kalshi.wire import position_from_wire

    assert position_from_wire({"ticker": "KXE-1", "position_fp": "0.00"}) is None
    with pytest.raises(WireError, match="position_fp"):
        position_from_wire({"ticker": "KXE-1", "market_exposure_dollars": "1.0000"})
