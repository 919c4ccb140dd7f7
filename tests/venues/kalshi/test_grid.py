"""Each Kalshi market's price grid comes from the market: read from ``price_ranges``, checked by
the feed before subscribing, enforced by the local Kalshi on orders."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from arbiter.core.book import Outcome
from arbiter.core.price_grid import STRUCTURES
from arbiter.core.units import ONE_CONTRACT as ONE
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import RejectedError
from arbiter.venues.kalshi.grid import GridError, grid_from_market
from arbiter.venues.kalshi.ws import KalshiFeed
from tests.venues.kalshi.support import TRADER, client_for, make_key
from tests.venues.kalshi.test_rest import req
from tests.venues.kalshi.test_ws import config, eventually, running

TAPERED = STRUCTURES["tapered_deci_cent"]
#: the live form, as captured from KXBTC15M markets by several public projects (see the docs)
LIVE_TAPERED = {
    "ticker": "KXBTC15M-26SEP021230-30", "price_level_structure": "tapered_deci_cent",
    "price_ranges": [{"start": "0.0000", "end": "0.1000", "step": "0.0010"},
                     {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
                     {"start": "0.9000", "end": "1.0000", "step": "0.0010"}],
}
SDK_PYTHON = Path(__file__).resolve().parents[3] / ".venv-kalshi-sdk" / "bin" / "python"


def test_the_live_ranges_read_exactly() -> None:
    assert grid_from_market(LIVE_TAPERED) == TAPERED
    linear = {"ticker": "A", "price_level_structure": "linear_cent",
              "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}]}
    assert grid_from_market(linear) == STRUCTURES["linear_cent"]
    assert grid_from_market({"ticker": "B", "price_level_structure": "deci_cent"}) == (
        STRUCTURES["deci_cent"])


@pytest.mark.parametrize(
    ("market", "message"),
    [
        ({"ticker": "A", "price_level_structure": "quarter_cent"}, "A: unknown price level"),
        ({"ticker": "A"}, "A: market states neither"),
        ({"ticker": "A", "price_level_structure": "linear_cent",
          "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0010"}]},
         "disagree with price_level_structure 'linear_cent'"),
        ({"ticker": "A", "price_ranges": [{"start": 0, "end": "1.0000", "step": "0.0100"}]},
         r"price_ranges\[0\]: 0 is not a dollar string"),
        ({"ticker": "A", "price_ranges": [{"start": "0.0000", "end": "1.0000",
                                           "step": "0.00005"}]}, "not a price on the"),
    ],
)
def test_a_grid_we_cannot_trust_is_an_error_naming_the_market(
    market: dict[str, object], message: str
) -> None:
    with pytest.raises(GridError, match=message):
        grid_from_market(market)


@pytest.mark.integration
async def test_feed_trades_only_markets_whose_grid_the_venue_confirms(sim: KalshiSim) -> None:
    sim.exchange.add_market("KXTAPER-26-A", "tapered", structure="tapered_deci_cent")
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXTAPER-26-A", "KXSTATIC-A"],
                      grids={"KXTAPER-26-A": TAPERED, "KXSTATIC-A": TAPERED})
    async with running(feed):
        assert await feed.wait_synced(15)
        assert "price grid" in feed.refused["KXSTATIC-A"]  # the venue says linear_cent
        assert feed.valid == {"KXTAPER-26-A"}
        sim.exchange.add_account("mm", None, 0, unlimited=True)
        _, deltas = sim.exchange.place("mm", "KXTAPER-26-A", "yes", "buy", 550, 5 * ONE, "b1")
        sim.publish(deltas)
        book = feed.books["KXTAPER-26-A"]
        await eventually(lambda: book.best_bid(Outcome.YES) == 550)


@pytest.mark.integration
@pytest.mark.slow  # the current SDK's interpreter start (~1.5 s)
async def test_the_local_kalshi_refuses_off_grid_orders_naming_the_market(sim: KalshiSim) -> None:
    sim.exchange.add_market("KXTAPER-26-A", "tapered", structure="tapered_deci_cent")
    async with client_for(sim) as client:
        with pytest.raises(RejectedError) as err:
            await client.place_order(req("x1", price=1550, market="KXTAPER-26-A"))
        assert err.value.code == "invalid_price" and "KXTAPER-26-A" in err.value.message
        ack = await client.place_order(req("x2", price=550, market="KXTAPER-26-A"))
        assert ack.order_id
        market = (await client.market_grids(["KXTAPER-26-A"]))["KXTAPER-26-A"]
        assert market == TAPERED
    body = sim.exchange.market_json(sim.exchange.markets["KXTAPER-26-A"])
    assert body["price_ranges"] == LIVE_TAPERED["price_ranges"]
    if SDK_PYTHON.exists():  # kalshi-python-sync 3.34.0's PriceRange model reads them
        script = ("import json, sys\nfrom kalshi_python_sync.models.price_range import PriceRange\n"
                  "print([PriceRange.from_dict(r).step for r in json.load(sys.stdin)])")
        out = subprocess.run([str(SDK_PYTHON), "-c", script], input=json.dumps(
            body["price_ranges"]), text=True, capture_output=True, timeout=60, check=True)
        assert out.stdout.strip() == "['0.0010', '0.0100', '0.0010']"
