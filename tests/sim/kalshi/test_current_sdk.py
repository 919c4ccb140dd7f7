"""The current official Kalshi SDK (kalshi-python-sync 3.34.0), unchanged, against the local
Kalshi in its default live-like mode (issue 19: "the local Kalshi speaks today's venue").

3.34.0 needs Python >= 3.13 and the main venv is 3.11, so the SDK runs in ``.venv-kalshi-sdk``
(``make kalshi-sdk-venv``) as a subprocess executing ``current_sdk_session.py``, while the
simulator serves on this test's event loop. The SDK's pydantic models are the closest thing to
the live schema: a field the venue requires and the simulator forgets fails here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import TRADER, make_key, running_sim

ROOT = Path(__file__).resolve().parents[3]
SDK_PYTHON = ROOT / ".venv-kalshi-sdk" / "bin" / "python"
SESSION = Path(__file__).with_name("current_sdk_session.py")

pytestmark = pytest.mark.skipif(
    not SDK_PYTHON.exists(),
    reason=f"{SDK_PYTHON} does not exist: run `make kalshi-sdk-venv` (needs Python 3.13) to "
    "test kalshi-python-sync 3.34.0 against the local Kalshi",
)


async def _run_sdk(sim: KalshiSim, tmp_path: Path, *mode: str) -> dict[str, object]:
    key_path = tmp_path / "trader.pem"
    key_path.write_bytes(make_key(TRADER).private_pem)
    proc = await asyncio.create_subprocess_exec(
        str(SDK_PYTHON), str(SESSION), sim.rest_url, TRADER, str(key_path), sim.admin_token,
        *mode,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        raise
    assert proc.returncode == 0, stderr.decode()[-4000:]
    result: dict[str, object] = json.loads(stdout)
    return result


@pytest.mark.integration
async def test_current_sdk_full_session_validates_every_answer(
    sim: KalshiSim, tmp_path: Path,
) -> None:
    r = await _run_sdk(sim, tmp_path)
    assert r["sdk"] == "3.34.0"
    assert r["validated"] == [
        "GetMarketsResponse", "GetMarketResponse", "GetMarketOrderbookResponse",
        "GetBalanceResponse", "CreateOrderV2Response", "GetOrdersResponse", "GetOrderResponse",
        "CancelOrderV2Response", "CreateOrderV2Response", "GetFillsResponse",
        "GetPositionsResponse", "GetSeriesResponse", "GetMarketResponse", "GetMarketsResponse",
    ]
    assert r["tickers"] == ["KXSTATIC-A", "KXSTATIC-B"]
    assert r["shards"] == {"KXSTATIC-A": 0, "KXSTATIC-B": 0}
    assert r["market"] == {"status": "active", "yes_bid": "0.3900", "yes_bid_size": "50.00",
                           "yes_ask": "0.4100", "bounds": "default",
                           "updated": r["market"]["updated"]}  # type: ignore[index]
    assert r["book"] == {"yes_top": ["0.3900", "50.00"], "no_top": ["0.5900", "50.00"]}
    assert r["balance"] == {"cents": 1_000_000, "dollars": "10000.00",
                            "breakdown": [[0, "10000.00"]]}
    assert r["resting"] == {"fill": "0.00", "remaining": "3.00"}
    assert r["listed"] == [["sdk34-rest", "yes", "bid", 0]]
    # the live venue's deprecated side/action are absent, and the SDK does not need them
    assert r["order"] == {"status": "resting", "yes_price": "0.3500", "side": None,
                          "action": None}
    assert r["cancelled"] == {"reduced_by": "3.00", "status": "canceled"}
    assert r["crossing"] == {"fill": "5.00", "remaining": "0.00", "avg": "0.3900",
                             "fee": "0.0180"}
    # one fill: long NO (outcome_side no / ask) at NO 0.61; fee $0.09 = ceil(0.07x5x.39x.61)
    assert r["fills"] == [["no", "ask", "5.00", "0.3900", "0.6100", "0.0900", 0, True]]
    assert r["positions"] == [["KXSTATIC-A", "-5.00", 0, "3.0500"]]
    assert r["event_positions"] == ["KXSTATIC"]
    assert r["series"] == {"ticker": "KXSTATIC", "fee_type": "quadratic"}
    # after /_sim/settle the market is "finalized", the only settled status 3.34.0's Market
    # allows (its enum: initialized inactive active closed determined disputed amended
    # finalized); the list filter's word "settled" finds it
    assert r["settled"] == {"status": "finalized", "result": "yes"}
    assert r["settled_list"] == [["KXSTATIC-B", "finalized"]]



@pytest.mark.integration
async def test_current_sdk_on_a_sharded_venue(tmp_path: Path) -> None:
    """KXSTATIC-B on shard 1: the SDK moves collateral there, trades, and its cancel only
    lands when it names the market (``market_ticker``), as on the venue."""
    async with running_sim(tmp_path, shards={"KXSTATIC-B": 1}) as sim:
        r = await _run_sdk(sim, tmp_path, "sharded")
    assert r["breakdown"] == [[0, "9950.00"], [1, "50.00"]]
    assert r["shard_1"] == 5_000  # cents
    assert r["market_shard"] == 1 and r["order_shard"] == 1
    assert r["unrouted"] == "NotFoundException"
    assert r["routed"] == "10.00"
    assert r["validated"] == [
        "IntraExchangeInstanceTransferResponse", "GetBalanceResponse", "GetBalanceResponse",
        "GetMarketResponse", "CreateOrderV2Response", "GetOrderResponse",
        "CancelOrderV2Response",
    ]
