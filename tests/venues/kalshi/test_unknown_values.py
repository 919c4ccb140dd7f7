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
