"""The local Kalshi's series (``GET /series``, ``/series/{ticker}``, events' fee overrides) and
the fees its fills charge: per series type and multiplier, rounded per fill as the venue does
(docs ``/getting_started/fee_rounding``)."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from arbiter.core.units import CENT, MONEY_SCALE
from arbiter.sim.kalshi.exchange import Exchange, SimError
from arbiter.sim.kalshi.server import KalshiSim

C = 1_000_000
D = MONEY_SCALE
SDK_PYTHON = Path(__file__).resolve().parents[3] / ".venv-kalshi-sdk" / "bin" / "python"


def exchange() -> Exchange:
    ex = Exchange(seed=3)
    ex.add_account("taker", None, 100 * D)
    ex.add_account("maker", None, 100 * D)
    ex.add_series("KXMAKER", "quadratic_with_maker_fees", "1")
    ex.add_series("KXHALF", "quadratic", "0.5")
    ex.add_market("KXMAKER-26-A", "maker fees")
    ex.add_market("KXHALF-26-A", "half rate")
    ex.add_market("KXPLAIN-26-A", "default series")
    ex.add_market("KXDECI-26-A", "deci-cent", tick=10)
    return ex


def _cross(ex: Exchange, ticker: str, price: int, count: int) -> None:
    ex.place("maker", ticker, "yes", "sell", price, count * C, "m1")
    ex.place("taker", ticker, "yes", "buy", price, count * C, "t1", "immediate_or_cancel")


def test_markets_take_their_series_fees() -> None:
    ex = exchange()
    assert ex.markets["KXPLAIN-26-A"].series_ticker == "KXPLAIN"
    assert ex.series["KXPLAIN"].fee_type == "quadratic"  # created with the schedule as printed
    _cross(ex, "KXMAKER-26-A", 5000, 10)
    # taker 0.07 x 10 x 0.25 = 0.175 -> 0.18; maker 0.0175 x 2.5 = 0.04375 -> 0.05
    assert ex.accounts["taker"].positions["KXMAKER-26-A"].fees == 18 * CENT
    assert ex.accounts["maker"].positions["KXMAKER-26-A"].fees == 5 * CENT
    _cross(ex, "KXHALF-26-A", 5000, 10)
    # 0.5 x 0.175 = 0.0875 -> 0.09; a quadratic series charges makers nothing
    assert ex.accounts["taker"].positions["KXHALF-26-A"].fees == 9 * CENT
    assert ex.accounts["maker"].positions["KXHALF-26-A"].fees == 0


def test_an_event_override_replaces_the_series_schedule() -> None:
    ex = exchange()
    ex.event_fee_overrides["KXMAKER-26"] = ("quadratic", Fraction(0))
    _cross(ex, "KXMAKER-26-A", 5000, 10)
    assert ex.accounts["taker"].positions["KXMAKER-26-A"].fees == 0


def test_sub_penny_fills_round_per_fill_and_rebate_per_order() -> None:
    """docs fee_rounding, "buy 3 contracts at $0.055 (three 1-lot matches)": each fill pays a
    trade fee of $0.0037 and $0.0013 of rounding (balance -0.0587 floored to -0.06); the
    order's total, $0.015, is what one 3-lot fill costs, and every balance stays on the cent."""
    ex = exchange()
    for i in range(3):
        ex.place("maker", "KXDECI-26-A", "yes", "sell", 550, C, f"m{i}")
    order, _ = ex.place("taker", "KXDECI-26-A", "yes", "buy", 550, 3 * C, "t", "immediate_or_cancel")
    fills = [f for f in ex.accounts["taker"].fills if f["order_id"] == order.order_id]
    assert [f["fee_cost"] for f in fills] == ["0.0050", "0.0050", "0.0050"]
    assert order.taker_fees == 15 * CENT // 10
    assert ex.accounts["taker"].cash == 100 * D - 18 * CENT
    assert ex.accounts["taker"].cash % CENT == 0 and ex.accounts["maker"].cash % CENT == 0


def test_four_one_lot_fills_at_fifty_cents_converge_to_one_fill() -> None:
    """1 contract at $0.50 pays $0.0175 -> $0.02 (0.0025 of rounding); the fourth fill's
    accumulated cent is rebated, so 4 fills cost 0.07 like one 4-lot fill."""
    ex = exchange()
    for i in range(4):
        ex.place("maker", "KXPLAIN-26-A", "yes", "sell", 5000, C, f"m{i}")
    order, _ = ex.place("taker", "KXPLAIN-26-A", "yes", "buy", 5000, 4 * C, "t", "immediate_or_cancel")
    fees = [f["fee_cost"] for f in ex.accounts["taker"].fills if f["order_id"] == order.order_id]
    assert fees == ["0.0200", "0.0200", "0.0200", "0.0100"]
    assert order.taker_fees == 7 * CENT


def test_an_unpriceable_series_refuses_orders() -> None:
    ex = exchange()
    ex.add_series("KXFLAT", "flat", "1")
    ex.add_market("KXFLAT-26-A", "flat fees")
    with pytest.raises(SimError) as err:
        ex.place("taker", "KXFLAT-26-A", "yes", "buy", 5000, C, "x")
    assert err.value.code == "unsupported_fee_type"


async def _get(sim: KalshiSim, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(sim.rest_url + path) as resp:
        return resp.status, await resp.json()


@pytest.mark.integration
@pytest.mark.slow  # the current SDK's interpreter start (~1.5 s)
async def test_series_endpoints_serve_the_registry() -> None:
    ex = exchange()
    ex.event_fee_overrides["KXHALF-26"] = ("quadratic_with_maker_fees", Fraction(3, 2))
    async with KalshiSim(ex) as sim:
        status, one = await _get(sim, "/series/KXHALF")
        assert status == 200
        assert (one["series"]["fee_type"], one["series"]["fee_multiplier"]) == ("quadratic", 0.5)
        assert one["series"]["categories"] == ["Simulated"]
        status, every = await _get(sim, "/series?category=Simulated")
        assert {s["ticker"] for s in every["series"]} == {"KXMAKER", "KXHALF", "KXPLAIN", "KXDECI"}
        _, none = await _get(sim, "/series?category=Sports")
        assert none["series"] == []
        status, missing = await _get(sim, "/series/KXNOPE")
        assert status == 404 and missing["error"]["code"] == "not_found"
        _, changes = await _get(sim, "/series/fee_changes")
        assert changes == {"series_fee_change_arr": []}
        _, event = await _get(sim, "/events/KXHALF-26")
        assert event["event"]["series_ticker"] == "KXHALF"
        assert event["event"]["fee_multiplier_override"] == 1.5
    if SDK_PYTHON.exists():
        _check_with_current_sdk({"series": one, "list": every, "changes": changes,
                                 "event": event["event"]})


def _check_with_current_sdk(bodies: dict[str, Any]) -> None:
    """kalshi-python-sync 3.34.0's own models accept every body (the live schema)."""
    script = (
        "import json, sys\n"
        "from kalshi_python_sync.models.get_series_response import GetSeriesResponse\n"
        "from kalshi_python_sync.models.get_series_list_response import GetSeriesListResponse\n"
        "from kalshi_python_sync.models.get_series_fee_changes_response import "
        "GetSeriesFeeChangesResponse\n"
        "from kalshi_python_sync.models.event_data import EventData\n"
        "b = json.load(sys.stdin)\n"
        "s = GetSeriesResponse.from_dict(b['series']).series\n"
        "n = len(GetSeriesListResponse.from_dict(b['list']).series)\n"
        "GetSeriesFeeChangesResponse.from_dict(b['changes'])\n"
        "e = EventData.from_dict(b['event'])\n"
        "print(s.fee_type.value, s.fee_multiplier, n, e.fee_multiplier_override)\n"
    )
    out = subprocess.run([str(SDK_PYTHON), "-c", script], input=json.dumps(bodies), text=True,
                         capture_output=True, timeout=60, check=True)
    assert out.stdout.split() == ["quadratic", "0.5", "4", "1.5"]


@pytest.mark.integration
async def test_a_scenario_names_its_series_fees(tmp_path: Path) -> None:
    from arbiter.sim.common import load_scenario

    path = tmp_path / "fees.toml"
    path.write_text('name = "fees"\nsteps = 1\n[[market]]\nkey = "M"\n[market.kalshi]\n'
                    'ticker = "KXIDX-26-A"\nfee_type = "quadratic_with_maker_fees"\n'
                    'fee_multiplier = "0.5"\n')
    ex = Exchange()
    async with KalshiSim(ex, load_scenario(str(path))):
        series = ex.series["KXIDX"]
        assert (series.fee_type, series.fee_multiplier) == ("quadratic_with_maker_fees",
                                                            Fraction(1, 2))
        assert ex.fees_of(ex.markets["KXIDX-26-A"]).maker.rate == Fraction(7, 800)


@pytest.mark.integration
async def test_an_event_fee_change_is_served_and_announced_on_the_lifecycle_channel() -> None:
    """``POST /_sim/event_fee`` sets (or clears) an event's override: ``GET /events/{e}`` serves
    it, fills charge it, and ``market_lifecycle_v2`` subscribers get ``event_fee_update`` in the
    documented form (docs /websockets/market-and-event-lifecycle, ``eventFeeUpdatePayload``)."""
    from tests.venues.kalshi.support import TRADER, make_key

    ex = exchange()
    ex.add_account(TRADER, make_key(TRADER).private_key.public_key(), 100 * D)
    async with KalshiSim(ex) as sim, aiohttp.ClientSession() as http:
        path = "/trade-api/ws/v2"
        headers = make_key(TRADER).signer().headers("GET", path)
        async with http.ws_connect(sim.ws_url, headers=headers) as ws:
            await ws.send_json({"id": 1, "cmd": "subscribe",
                                "params": {"channels": ["market_lifecycle_v2"]}})
            assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
            base = sim.rest_url.split("/trade-api/")[0]
            for body in ({"event_ticker": "KXHALF-26", "fee_type_override": "quadratic",
                          "fee_multiplier_override": 0.25},
                         {"event_ticker": "KXHALF-26", "fee_type_override": None,
                          "fee_multiplier_override": None}):
                async with http.post(base + "/_sim/event_fee", json=body,
                                     headers=sim.admin_headers()) as resp:
                    assert resp.status == 200
                frame = await ws.receive_json(timeout=5)
                assert frame["type"] == "event_fee_update" and frame["msg"] == body
                assert isinstance(frame["sid"], int) and isinstance(frame["seq"], int)
                _, event = await _get(sim, "/events/KXHALF-26")
                if body["fee_type_override"] is None:
                    assert "fee_type_override" not in event["event"]
                    assert ex.fees_of(ex.markets["KXHALF-26-A"]).multiplier == Fraction(1, 2)
                else:
                    assert event["event"]["fee_multiplier_override"] == 0.25
                    assert ex.fees_of(ex.markets["KXHALF-26-A"]).multiplier == Fraction(1, 4)
            async with http.post(base + "/_sim/event_fee", json={"event_ticker": "KXNOPE"},
                                 headers=sim.admin_headers()) as r:
                assert r.status == 404
