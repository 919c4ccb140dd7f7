"""Order direction round trips: what we send reads back as what we sent (issue 19).

The live venue reports direction as ``outcome_side``/``book_side`` and may omit the deprecated
``side``/``action`` (docs ``/getting_started/order_direction``; kalshi-python-sync 3.34.0
``Order``/``Fill``); the local Kalshi answers the same way by default. Each of the four
directions goes create -> lookup -> fills -> positions through our client, and the executor
journals the right cost after an unknown-outcome lookup.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.saga import Ending
from arbiter.core.units import ONE_CONTRACT, Money, Price, Size
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import Action, OrderRequest, OrderStatus, TimeInForce, in_terms_of
from tests.execution.fakes import FakeVenue
from tests.venues.kalshi.support import client_for

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

TICKER = "KXSTATIC-A"  # static: YES bids 0.39/0.38/0.37, YES asks 0.41/0.42/0.43, 50 each
C = ONE_CONTRACT

# (outcome, action, limit, what it fills at in its own terms, net position it leaves)
DIRECTIONS = [
    ("yes", "buy", 4500, 4100, (Outcome.YES, 5 * C)),   # bid 0.45 lifts the 0.41 ask
    ("no", "buy", 6200, 6100, (Outcome.NO, 5 * C)),     # ask 0.38 hits the 0.39 bid: NO 0.61
    ("yes", "sell", 3800, 3900, (Outcome.NO, 5 * C)),   # ask 0.38 hits the 0.39 bid
    ("no", "sell", 5500, 5900, (Outcome.YES, 5 * C)),   # bid 0.45 lifts 0.41: NO 0.59
]


async def _faults(sim: KalshiSim, **settings: object) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{sim.port}/_sim/faults", json=settings,
        headers=sim.admin_headers(),
    ) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(("outcome", "action", "limit", "at", "holding"), DIRECTIONS)
async def test_every_direction_reads_back_as_sent(
    sim: KalshiSim, outcome: str, action: str, limit: int, at: int,
    holding: tuple[Outcome, int],
) -> None:
    o, a = Outcome(outcome), Action(action)
    request = OrderRequest(TICKER, o, a, Price(limit), Size(5 * C), f"dir-{outcome}-{action}",
                           TimeInForce.IOC)
    async with client_for(sim) as client:
        ack = await client.place_order(request)
        assert (ack.outcome, ack.action, ack.status) == (o, a, OrderStatus.FILLED)
        assert ack.avg_fill_price == at and ack.fill_cost == at * 5 * C

        # the venue's own view, as the live venue shows it: no side/action, only the new pair
        raw = sim.exchange.order_json(sim.exchange.orders[ack.order_id])
        assert "side" not in raw and "action" not in raw
        assert raw["outcome_side"] == ("yes" if (o is Outcome.YES) == (a is Action.BUY) else "no")

        looked = await client.get_order(client_order_id=request.client_order_id)
        # read: BUY of outcome_side (the venue cannot tell buy NO from sell YES) ...
        assert looked.action is Action.BUY and looked.exchange_index == 0
        # ... and in the request's own terms it is exactly the order sent, at what it cost
        mine = in_terms_of(looked, o, a)
        assert (mine.outcome, mine.action, mine.price) == (o, a, limit)
        assert mine.filled == 5 * C and mine.fill_cost == at * 5 * C

        (fill,) = await client.fills()
        assert fill.order_id == ack.order_id and fill.exchange_index == 0
        assert (fill.outcome, fill.action) == (looked.outcome, Action.BUY)
        same = fill.price if (fill.outcome, Action.BUY) == (o, a) else 10_000 - fill.price
        assert same == at

        (position,) = await client.positions()
        assert (position.outcome, position.size) == holding


def test_a_buy_no_is_not_read_as_a_buy_yes() -> None:
    """Reinterpreting is only for the mirror order; another direction is refused."""
    from arbiter.venues.kalshi.wire import ack_from_order

    order = {"order_id": "o1", "client_order_id": "c", "ticker": TICKER, "outcome_side": "yes",
             "book_side": "bid", "type": "limit", "status": "executed",
             "yes_price_dollars": "0.4500", "no_price_dollars": "0.5500",
             "fill_count_fp": "5.00", "remaining_count_fp": "0.00", "initial_count_fp": "5.00",
             "taker_fees_dollars": "0.0900", "maker_fees_dollars": "0.0000"}
    ack = ack_from_order(order)
    with pytest.raises(ValueError, match="not buy no"):
        in_terms_of(ack, Outcome.NO, Action.BUY)
    assert in_terms_of(ack, Outcome.NO, Action.SELL).price == 5500


async def test_executor_journals_a_buy_no_at_its_price_after_an_unknown_outcome(
    sim: KalshiSim, tmp_path: Path,
) -> None:
    """Kalshi leg buy NO at 0.62; the create's answer is lost (5xx after it took effect), so the
    client looks the order up by its client id. Before the fix the lookup read the venue's
    order as "sell YES at 0.38" and the executor journaled 0.38 x 5 for a NO that cost 0.61."""
    pair = Pair(name="STATIC", kalshi_ticker=TICKER, polymarket_yes_token="1111",
                polymarket_no_token="2222", polymarket_fee=PolymarketFeeModel.of("0"),
                polymarket_min_order_size=Size(0))  # stated: the Polymarket side is a fake
    poly = FakeVenue("polymarket")
    poly.add_liquidity("1111", Outcome.YES, "ask", 3000, 50 * C)
    size = Size(5 * C)
    legs = (
        Leg("kalshi", TICKER, Outcome.NO, 6200, Money(6200 * size), Money(0), 1_000),
        Leg("polymarket", "1111", Outcome.YES, 3000, Money(3000 * size), Money(0), 1_000),
    )
    opp = Opportunity(pair.name, "kalshi_no_poly_yes", size, legs, Money(9200 * size), Money(0),
                      Money(800 * size), 1_000)
    await _faults(sim, http_burst=[500, 1], http_burst_methods=["POST"], http_burst_after=True)
    config = ExecutorConfig(order_timeout_s=2.0, query_timeout_s=1.0, absent_grace_s=0.05,
                            resolve_backoff_s=0.005, resolve_timeout_s=5.0)
    async with client_for(sim) as kalshi:
        with Journal(tmp_path / "journal.db") as journal:
            executor = SagaExecutor(journal, {"kalshi": kalshi, "polymarket": poly},
                                    {pair.name: pair}, config=config)
            saga = (await executor.submit(opp)).saga
            assert saga is not None and saga.ending is Ending.COMPLETED
            assert kalshi.attempts >= 3  # the lost create, the lookup, the order's fills
            (leg,) = [o for o in saga.orders.values() if o.intent.venue == "kalshi"]
            assert (leg.intent.outcome, leg.intent.action) == (Outcome.NO, "buy")
            assert leg.final is not None and leg.final.filled == size
            assert leg.final.cost == 6100 * size  # 5 NO at 0.61, what they cost
            (held,) = [p for p in executor.positions.open_positions() if p.venue == "kalshi"]
            assert (held.outcome, held.size) == (Outcome.NO, size)
    await poly.close()


@pytest.mark.parametrize(("fields", "expected"), [
    ({"outcome_side": "no", "book_side": "ask"}, (Outcome.NO, Action.BUY)),
    ({"outcome_side": "yes"}, (Outcome.YES, Action.BUY)),
    ({"book_side": "ask"}, (Outcome.NO, Action.BUY)),
    # the new pair wins over the deprecated one (an ask the legacy view calls "sell yes")
    ({"outcome_side": "no", "book_side": "ask", "side": "yes", "action": "sell"},
     (Outcome.NO, Action.BUY)),
    ({"side": "no", "action": "sell"}, (Outcome.NO, Action.SELL)),  # SDK-era objects
])
def test_direction_reads_the_new_fields_first(
    fields: dict[str, str], expected: tuple[Outcome, Action],
) -> None:
    from arbiter.venues.kalshi.wire import read_direction

    assert read_direction(fields) == expected


@pytest.mark.parametrize("fields", [
    {"outcome_side": "yes", "book_side": "ask"},  # disagree
    {"book_side": "offer"},
    {"outcome_side": "maybe"},
    {"action": "buy"},  # nothing says which outcome
])
def test_direction_refuses_what_it_cannot_read(fields: dict[str, str]) -> None:
    from arbiter.venues.kalshi.wire import WireError, ack_from_order

    order = {"order_id": "o1", "ticker": TICKER, "status": "resting",
             "yes_price_dollars": "0.4000", "no_price_dollars": "0.6000", **fields}
    with pytest.raises(WireError):
        ack_from_order(order)
